"""Per-example gradients of the standard model in other frameworks, side by side with dpqml.

The quantity is the same everywhere: for a batch ``X`` of shape ``(B, n)``, the per-example
gradient of ``f(theta, x) = <Z_0>`` with respect to all ``p = 2 n L`` angles, shape ``(B, p)``,
for the standard model (``RY(x_i)`` on qubit ``i``, then ``L`` ``hea`` layers: per qubit
``RY(theta[2(l n + i)])`` then ``RZ(theta[2(l n + i) + 1])``, then ``CNOT(i, (i + 1) mod n)``
for every ``i``, none for ``n = 1``). Every other framework's circuit is written here from that
text, not from dpqml's circuit code, so agreement is an independent check.

Approaches (all float32 / complex64; every builder returns ``fn(theta, X) -> np.ndarray (B, p)``):

``dpqml``
    ``jax.jit(jax.vmap(jax.grad(expectations(...)[0]), in_axes=(None, 0)))``.
``pennylane-broadcast``
    ``default.qubit`` with parameter broadcasting: the weights are repeated per example, shape
    ``(B, p)``; the gradient of ``sum_b f(W_b, x_b)`` with respect to ``W`` is the per-example
    gradient. JAX interface, ``diff_method="backprop"``, whole gradient under ``jax.jit``.
``pennylane-loop``
    ``default.qubit``, a Python loop over examples, one gradient each (the per-example gradient
    function is ``jax.jit``-compiled once and reused).
``tensorcircuit``
    TensorCircuit-NG, JAX backend, complex64, ``jit(vmap(grad))`` over examples, default
    (greedy) contractor.

Interface choice for PennyLane (measured here: PennyLane 0.45.1, JAX 0.10.2, 2 CPU cores,
batch 64): ``jax`` + ``jax.jit`` beats ``autograd`` by far, so both PennyLane approaches use it.
Broadcast: 54,900 vs 1,900 examples/s at n=4, L=2; 1,440 vs 91 at n=8, L=6 (``jax`` without
``jit``: 200 at n=4, L=2); ``autograd`` with broadcasting fails at n >= 12 in this PennyLane
version (``ValueError: shape-mismatch for sum`` in the backward pass). Loop: 6,300 vs 61
examples/s at n=4, L=2 and 72 vs 3.1 at n=12, L=6; the price is compile time (about 140 s for
the jitted single-example gradient at n=12, L=6, against a 5 s first call with ``autograd``).

Global state: importing ``tensorcircuit`` and ``tc.set_dtype`` flip ``jax_enable_x64``, and
``tc.set_backend`` rewrites module globals. This module imports TensorCircuit with the flag
saved and restored, sets backend/dtype only while it traces the circuit (first call for a
given shape) and restores them afterwards; later calls run the compiled executable and touch
no global state. All JAX approaches trace with ``jax_enable_x64`` off (float32), whatever the
caller's setting, and restore it.
"""

from __future__ import annotations

import contextlib
import importlib
import multiprocessing
import traceback
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .timing import Timing, time_call

INSTALL_HINT = "not installed: pip install 'dpqml[compare]'"
ATOL = 1e-4  # agreement tolerance against dpqml (float32)
FRAMEWORKS = ("dpqml", "pennylane", "tensorcircuit")

GradFn = Callable[[np.ndarray, np.ndarray], np.ndarray]

#: Device noise the other frameworks are built with: one single-qubit channel after every gate, on
#: each of its wires (dpqml's ``apply_noise`` convention), as ``name[:strength]``.
PEER_NOISE = ("depolarizing", "amplitude-damping")
_PEER_NOISE_DEFAULT = 0.01


def parse_peer_noise(noise: str | None) -> tuple[str, float] | None:
    """``None``/``"none"`` -> ``None``; ``"depolarizing:0.01"`` -> ``("depolarizing", 0.01)``.

    Raises ``ValueError`` naming the valid forms for anything the other frameworks are not built with."""
    if noise is None or noise in ("none", "ideal"):
        return None
    name, _, value = str(noise).partition(":")
    if name not in PEER_NOISE or "+" in str(noise):
        raise ValueError(f"--compare with --noise runs one channel after every gate: {list(PEER_NOISE)} "
                         f"(as name or name:strength); got {noise!r}")
    try:
        strength = float(value) if value else _PEER_NOISE_DEFAULT
    except ValueError:
        raise ValueError(f"--noise {noise!r}: the strength must be a number in [0, 1]") from None
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"--noise {noise!r}: the strength must be in [0, 1]")
    return name, strength


def _check_sizes(n_qubits: int, n_layers: int, batch: int) -> int:
    for name, value in (("n_qubits", n_qubits), ("n_layers", n_layers), ("batch", batch)):
        if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1; got {value!r}")
    return 2 * int(n_qubits) * int(n_layers)


# --------------------------------------------------------------------------- global state


@contextlib.contextmanager
def _jax_x64(enabled: bool) -> Iterator[None]:
    """Set ``jax_enable_x64`` for the duration of the block, then restore it."""
    import jax

    old = bool(jax.config.jax_enable_x64)
    if old != enabled:
        jax.config.update("jax_enable_x64", enabled)
    try:
        yield
    finally:
        if bool(jax.config.jax_enable_x64) != old:
            jax.config.update("jax_enable_x64", old)


def _import_tensorcircuit():
    """``import tensorcircuit`` without letting its import-time ``set_dtype()`` change x64."""
    import jax

    before = bool(jax.config.jax_enable_x64)
    try:
        return importlib.import_module("tensorcircuit")
    finally:
        if bool(jax.config.jax_enable_x64) != before:
            jax.config.update("jax_enable_x64", before)


@contextlib.contextmanager
def _tensorcircuit_jax_complex64(tc) -> Iterator[None]:
    """TensorCircuit on the JAX backend in complex64 for the block; previous state restored."""
    import jax

    old_backend = tc.backend.name
    old_dtype = tc.dtypestr
    old_x64 = bool(jax.config.jax_enable_x64)
    try:
        tc.set_backend("jax")
        tc.set_dtype("complex64")  # also switches jax_enable_x64 off
        yield
    finally:
        if tc.dtypestr != old_dtype:
            tc.set_dtype(old_dtype)
        if tc.backend.name != old_backend:
            tc.set_backend(old_backend)
        if bool(jax.config.jax_enable_x64) != old_x64:
            jax.config.update("jax_enable_x64", old_x64)


@contextlib.contextmanager
def _quiet_pennylane_jax() -> Iterator[None]:
    """float32 tracing; silence PennyLane's complex128 -> complex64 truncation notices."""
    with _jax_x64(False), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Explicitly requested dtype complex128")
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        yield


class _CompiledOnFirstCall:
    """Wrap a ``jax.jit`` function: on the first call for given shapes, trace and compile it
    (ahead of time) inside ``context``; afterwards call the compiled executable directly."""

    def __init__(self, jitted, context: Callable[[], contextlib.AbstractContextManager]):
        self._jitted = jitted
        self._context = context
        self._compiled: dict = {}

    def __call__(self, theta, X) -> np.ndarray:
        theta = np.asarray(theta, dtype=np.float32)
        X = np.asarray(X, dtype=np.float32)
        key = (theta.shape, X.shape)
        compiled = self._compiled.get(key)
        if compiled is None:
            with self._context():
                compiled = self._jitted.lower(theta, X).compile()
            self._compiled[key] = compiled
        return np.asarray(compiled(theta, X))


# --------------------------------------------------------------------------- builders


def make_dpqml(n_qubits: int, n_layers: int, batch: int, noise: str | None = None) -> GradFn:
    """dpqml: ``jit(vmap(grad(expectations(circuit, theta, x)[0])))`` over examples (density
    matrices when ``noise`` is given)."""
    _check_sizes(n_qubits, n_layers, batch)
    import jax

    from ..models import apply_noise, standard_circuit
    from ..quantum import expectations

    circuit = standard_circuit(int(n_qubits), int(n_layers))
    channel = parse_peer_noise(noise)
    if channel is not None:
        circuit = apply_noise(circuit, f"{channel[0]}:{channel[1]!r}")

    def f(theta, x):
        return expectations(circuit, theta, x)[0]

    return _CompiledOnFirstCall(jax.jit(jax.vmap(jax.grad(f), in_axes=(None, 0))),
                                lambda: _jax_x64(False))


def _pennylane_qnode(n_qubits: int, n_layers: int, noise: str | None = None):
    """The standard model as a PennyLane QNode (JAX interface, backprop); ``...`` indexing
    makes it work for one example (``w: (p,), x: (n,)``) and broadcast (``(B, p), (B, n)``).
    With ``noise``: ``default.mixed``, the channel after every gate on each of its wires."""
    import pennylane as qml

    n = n_qubits
    channel = parse_peer_noise(noise)
    dev = qml.device("default.mixed" if channel else "default.qubit", wires=n)
    kind = {"depolarizing": qml.DepolarizingChannel, "amplitude-damping": qml.AmplitudeDamping}.get(
        channel[0] if channel else None)

    def noisy(*wires):
        if kind is not None:
            for w in wires:
                kind(channel[1], wires=w)

    @qml.qnode(dev, interface="jax", diff_method="backprop")
    def circuit(w, x):
        for i in range(n):
            qml.RY(x[..., i], wires=i)
            noisy(i)
        for layer in range(n_layers):
            for i in range(n):
                k = 2 * (layer * n + i)
                qml.RY(w[..., k], wires=i)
                noisy(i)
                qml.RZ(w[..., k + 1], wires=i)
                noisy(i)
            if n > 1:
                for i in range(n):
                    qml.CNOT(wires=[i, (i + 1) % n])
                    noisy(i, (i + 1) % n)
        return qml.expval(qml.PauliZ(0))

    return circuit


def make_pennylane_broadcast(n_qubits: int, n_layers: int, batch: int, noise: str | None = None) -> GradFn:
    """PennyLane ``default.qubit``, parameter broadcasting over weights repeated per example.

    ``W = (theta, ..., theta)`` of shape ``(B, p)``; ``d/dW sum_b f(W_b, x_b)`` has row ``b``
    equal to ``grad f(theta, x_b)``. JAX interface + ``jax.jit`` (see the module docstring for
    the measurements that chose it over autograd).
    """
    p = _check_sizes(n_qubits, n_layers, batch)
    import jax
    import jax.numpy as jnp

    circuit = _pennylane_qnode(int(n_qubits), int(n_layers), noise)

    def loss(W, X):
        return jnp.sum(circuit(W, X))

    def grads(theta, X):
        W = jnp.broadcast_to(theta, (X.shape[0], p))  # each row a copy of theta
        return jax.grad(loss)(W, X)

    return _CompiledOnFirstCall(jax.jit(grads), _quiet_pennylane_jax)


def make_pennylane_loop(n_qubits: int, n_layers: int, batch: int, noise: str | None = None) -> GradFn:
    """PennyLane ``default.qubit``, a Python loop over examples: one gradient per example.

    The single-example gradient is JAX-interface and ``jax.jit``-compiled once (the fastest loop
    measured; ``autograd`` is 20-100x slower per example here)."""
    _check_sizes(n_qubits, n_layers, batch)
    import jax

    one = _CompiledOnFirstCall(jax.jit(jax.grad(_pennylane_qnode(int(n_qubits), int(n_layers), noise))),
                               _quiet_pennylane_jax)

    def grads(theta, X) -> np.ndarray:
        return np.stack([one(theta, x) for x in np.asarray(X, dtype=np.float32)])

    return grads


def make_tensorcircuit(n_qubits: int, n_layers: int, batch: int, noise: str | None = None) -> GradFn:
    """TensorCircuit-NG, JAX backend, complex64: ``jit(vmap(grad))`` over examples (``DMCircuit``,
    the channel after every gate on each of its wires, when ``noise`` is given).

    The backend and dtype are TensorCircuit globals read while tracing, so they are set only
    around tracing (first call per shape) and restored afterwards."""
    _check_sizes(n_qubits, n_layers, batch)
    tc = _import_tensorcircuit()
    n, L = int(n_qubits), int(n_layers)
    channel = parse_peer_noise(noise)

    def noisy(c, *wires):
        for w in wires if channel else ():
            if channel[0] == "depolarizing":
                p = channel[1] / 3
                c.depolarizing(w, px=p, py=p, pz=p)
            else:
                c.amplitudedamping(w, gamma=channel[1], p=1.0)

    with _tensorcircuit_jax_complex64(tc):
        K = tc.backend  # the JAX backend object; its jit/vmap/grad are JAX's

        def f(theta, x):
            c = tc.DMCircuit(n) if channel else tc.Circuit(n)
            for i in range(n):
                c.ry(i, theta=x[i])
                noisy(c, i)
            for layer in range(L):
                for i in range(n):
                    k = 2 * (layer * n + i)
                    c.ry(i, theta=theta[k])
                    noisy(c, i)
                    c.rz(i, theta=theta[k + 1])
                    noisy(c, i)
                if n > 1:
                    for i in range(n):
                        c.cnot(i, (i + 1) % n)
                        noisy(c, i, (i + 1) % n)
            return K.real(c.expectation_ps(z=[0]))

        jitted = K.jit(K.vmap(K.grad(f), vectorized_argnums=1))

    return _CompiledOnFirstCall(jitted, lambda: _tensorcircuit_jax_complex64(tc))


class Approach(NamedTuple):
    framework: str
    builder: Callable[..., GradFn]  # (n_qubits, n_layers, batch, noise=None)
    loop: bool = False  # a Python loop over examples: timed with one steady-state call


APPROACHES: dict[str, Approach] = {
    "dpqml": Approach("dpqml", make_dpqml),
    "pennylane-broadcast": Approach("pennylane", make_pennylane_broadcast),
    "pennylane-loop": Approach("pennylane", make_pennylane_loop, loop=True),
    "tensorcircuit": Approach("tensorcircuit", make_tensorcircuit),
}


def _check_framework(framework: str) -> None:
    if framework not in FRAMEWORKS:
        raise ValueError(f"unknown framework {framework!r}; valid frameworks are {list(FRAMEWORKS)}")


def available(framework: str) -> bool:
    """Whether ``framework`` can be imported here (never raises for a missing package)."""
    _check_framework(framework)
    try:
        import jax  # noqa: F401

        if framework == "pennylane":
            importlib.import_module("pennylane")
        elif framework == "tensorcircuit":
            _import_tensorcircuit()
    except Exception:  # ImportError, or a broken install failing at import time
        return False
    return True


# --------------------------------------------------------------------------- measuring


def _inputs(n_qubits: int, n_layers: int, batch: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    theta = rng.uniform(-np.pi, np.pi, 2 * n_qubits * n_layers).astype(np.float32)
    X = rng.uniform(-np.pi, np.pi, (batch, n_qubits)).astype(np.float32)
    return theta, X


@dataclass(frozen=True)
class Measurement:
    approach: str
    grads: np.ndarray  # (batch_used, p)
    timing: Timing
    batch_used: int
    note: str = ""

    @property
    def examples_per_second(self) -> float:
        return self.batch_used / self.timing.seconds_per_call


def measure(approach: str, n_qubits: int, n_layers: int, batch: int, *, min_seconds: float = 1.0,
            seed: int = 0, loop_batch: int | None = None, noise: str | None = None) -> Measurement:
    """Build ``approach``, time it with :func:`~dpqml.bench.timing.time_call`, keep its gradients.

    Loop approaches get one steady-state call (after the compiling first call), on the first
    ``loop_batch`` examples (all of them when ``None``)."""
    if approach not in APPROACHES:
        raise ValueError(f"unknown approach {approach!r}; valid approaches are {list(APPROACHES)}")
    theta, X = _inputs(n_qubits, n_layers, batch, seed)
    spec = APPROACHES[approach]
    note = ""
    if spec.loop:
        used = batch if loop_batch is None else max(1, min(int(loop_batch), batch))
        X = X[:used]
        note = "Python loop; one steady-state call"
        if used < batch:
            note += f" on {used} of {batch} examples"
    fn = spec.builder(n_qubits, n_layers, batch, noise)
    out: dict[str, np.ndarray] = {}

    def run():
        out["grads"] = fn(theta, X)
        return out["grads"]

    if spec.loop:
        timing = time_call(run, min_seconds=0.0, min_calls=1, max_calls=1)
    else:
        timing = time_call(run, min_seconds=min_seconds)
    return Measurement(approach, np.asarray(out["grads"]), timing, X.shape[0], note)


def _measure_child(conn, args, kwargs) -> None:  # runs in a spawned process
    try:
        m = measure(*args, **kwargs)
        conn.send(("ok", m))
    except BaseException:  # noqa: BLE001  (report anything to the parent)
        conn.send(("error", traceback.format_exc()))
    finally:
        conn.close()


def _measure_with_timeout(timeout: float, *args, **kwargs) -> Measurement | None:
    """:func:`measure` in a fresh process; ``None`` when it has not finished after ``timeout`` s
    (JAX/XLA compilation cannot be interrupted in-process)."""
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_measure_child, args=(child, args, kwargs), daemon=True)
    proc.start()
    child.close()
    try:
        if not parent.poll(timeout):
            return None
        status, payload = parent.recv()
    except EOFError:
        status, payload = "error", f"child process died (exit code {proc.exitcode})"
    finally:
        if proc.is_alive():
            proc.terminate()
        proc.join()
        parent.close()
    if status != "ok":
        raise RuntimeError(f"{args[0]} failed in its subprocess:\n{payload}")
    return payload


def compare(n_qubits: int, n_layers: int, batch: int, frameworks=("pennylane", "tensorcircuit"),
            min_seconds: float = 1.0, seed: int = 0, *, loop_batch: int | None = None,
            timeout: float | None = None, noise: str | None = None) -> list[dict]:
    """Time every approach of ``frameworks`` against dpqml on the same seeded ``theta``/``X``.

    Returns one row per approach, dpqml's first: ``framework, approach, qubits, layers, batch``
    (the examples actually timed), ``examples_per_second``, ``compile_seconds`` (first call
    minus a steady one), ``max_abs_diff_vs_dpqml``, ``agrees`` (to ``1e-4``),
    ``ratio_dpqml_over_this`` (dpqml's examples/s over this one's: > 1 means dpqml is faster),
    and ``note``. A framework that is not installed gives rows with ``skipped`` instead.
    ``timeout`` (seconds): run each non-dpqml approach in a subprocess and skip it when it
    does not finish in time (the subprocess's imports count towards it). ``noise``: one channel
    after every gate (:data:`PEER_NOISE`; ``name:strength``): density matrices everywhere (PennyLane
    ``default.mixed``, TensorCircuit ``DMCircuit``); an approach that fails gives a ``skipped`` row
    with its error.
    """
    if isinstance(frameworks, str):
        frameworks = (frameworks,)
    for fw in frameworks:
        _check_framework(fw)
    _check_sizes(n_qubits, n_layers, batch)
    parse_peer_noise(noise)
    kwargs = {"min_seconds": min_seconds, "seed": seed, "loop_batch": loop_batch, "noise": noise}
    ref = measure("dpqml", n_qubits, n_layers, batch, **kwargs)
    base = {"qubits": n_qubits, "layers": n_layers, "noise": noise or "none"}

    def row(m: Measurement) -> dict:
        diff = float(np.max(np.abs(m.grads - ref.grads[: m.batch_used]))) if m.grads.size else 0.0
        return {"framework": APPROACHES[m.approach].framework, "approach": m.approach, **base,
                "batch": m.batch_used, "examples_per_second": m.examples_per_second,
                "compile_seconds": m.timing.compile_seconds, "max_abs_diff_vs_dpqml": diff,
                "agrees": bool(diff <= ATOL),
                "ratio_dpqml_over_this": ref.examples_per_second / m.examples_per_second,
                "note": m.note}

    rows = [row(ref)]
    for name, spec in APPROACHES.items():
        if spec.framework == "dpqml" or spec.framework not in frameworks:
            continue
        skipped = {"framework": spec.framework, "approach": name, **base, "batch": batch}
        if not available(spec.framework):
            rows.append({**skipped, "skipped": INSTALL_HINT})
            continue
        try:
            if timeout is None:
                m = measure(name, n_qubits, n_layers, batch, **kwargs)
            else:
                m = _measure_with_timeout(timeout, name, n_qubits, n_layers, batch, **kwargs)
        except Exception as e:  # noqa: BLE001 - a framework that cannot run this circuit is reported, not fatal
            last = (str(e).strip().splitlines() or [""])[-1][:200]
            rows.append({**skipped, "skipped": f"failed: {type(e).__name__}: {last}"})
            continue
        if m is None:
            rows.append({**skipped, "skipped": f"timed out: not done after {timeout:g} s (incl. compile)"})
        else:
            rows.append(row(m))
    return rows
