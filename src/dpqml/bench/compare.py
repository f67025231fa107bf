"""Per-example gradients of a model in other frameworks, side by side with dpqml.

The quantity is the same everywhere: for a batch ``X``, the per-example gradient of a fixed
scalar ``f(theta, x)`` with respect to all ``p`` angles, shape ``(B, p)``. Two models
(:data:`MODELS`, the ``model`` argument):

``"standard"``
    ``RY(x_i)`` on qubit ``i``, then ``L`` ``hea`` layers: per qubit ``RY(theta[2(l n + i)])``
    then ``RZ(theta[2(l n + i) + 1])``, then ``CNOT(i, (i + 1) mod n)`` for every ``i``, none for
    ``n = 1``; ``f = <Z_0>``, ``p = 2 n L``; ``X`` of shape ``(B, n)``. Optionally noisy.
``"paper"``
    The paper's tabular quantum model (:class:`~dpqml.models.paper.PaperQuantumModel`), sizes
    fixed: amplitude encoding of 16 features on 4 qubits (``x / ||x||``, PennyLane's
    ``AmplitudeEmbedding(normalize=True, pad_with=0.0)``, wire 0 the most significant bit), then
    11 layers, each ``RZ(theta[3m])``, ``RY(theta[3m + 1])``, ``RZ(theta[3m + 2])`` on qubit ``i``
    with ``m = i L + l`` (qubit-major, as the paper's notebook indexes them), then
    ``CNOT(i, (i + 1) mod 4)`` for ``i = 0..3``; ``p = 132``; ``X`` of shape ``(B, 16)``. Its four
    ``<Z_k>`` are the model's logits; ``f = sum_k w_k <Z_k>`` with the fixed weights
    :data:`PAPER_WEIGHTS` ``= (1, -0.5, 0.25, 0.75)``: a linear functional that needs every logit's
    gradient (distinct weights, so a swapped or dropped ``Z_k`` shows) and is exactly the
    simulator's work, where a cross-entropy would add the same softmax in every framework.
    Noiseless only.

Every other framework's circuit is written here from that text, not from dpqml's circuit code,
so agreement is an independent check.

Approaches (all float32 / complex64; every builder returns ``fn(theta, X) -> np.ndarray (B, p)``):

``dpqml``
    standard model: ``jax.jit(jax.vmap(jax.grad(f), in_axes=(None, 0)))`` with ``f`` read from
    ``expectations(circuit, theta, x)`` (method ``"auto"``) of dpqml's own circuit; paper model:
    the model's closed-form adjoint (``PaperQuantumModel.per_example_grads``) under ``jax.jit``.
``pennylane-broadcast``
    ``default.qubit`` with parameter broadcasting: the weights are repeated per example, shape
    ``(B, p)``; the gradient of ``sum_b f(W_b, x_b)`` with respect to ``W`` is the per-example
    gradient. JAX interface, ``diff_method="backprop"``, whole gradient under ``jax.jit``.
``pennylane-loop``
    ``default.qubit``, a Python loop over examples, one gradient each (the per-example gradient
    function is ``jax.jit``-compiled once and reused).
``tensorcircuit``
    TensorCircuit-NG, JAX backend, complex64, ``jit(vmap(grad))`` over examples, default
    (greedy) contractor; the paper model's amplitude encoding is the input state
    (``tc.Circuit(4, inputs=x / ||x||)``).

Interface choice for PennyLane (measured here: PennyLane 0.45.1, JAX 0.10.2, 2 CPU cores,
batch 64): ``jax`` + ``jax.jit`` beats ``autograd`` by far, so both PennyLane approaches use it.
Broadcast: 54,900 vs 1,900 examples/s at n=4, L=2; 1,440 vs 91 at n=8, L=6 (``jax`` without
``jit``: 200 at n=4, L=2); ``autograd`` with broadcasting fails at n >= 12 in this PennyLane
version (``ValueError: shape-mismatch for sum`` in the backward pass). Loop: 6,300 vs 61
examples/s at n=4, L=2 and 72 vs 3.1 at n=12, L=6; the price is compile time (about 140 s for
the jitted single-example gradient at n=12, L=6, against a 5 s first call with ``autograd``).
The paper model's 176 unrolled gates compile slowly in the other frameworks (measured here,
batch 4, 2 busy cores: dpqml 3.6 s; PennyLane broadcast 101 s, loop 50 s; TensorCircuit 86 s;
every gradient agreed with dpqml's to 1.3e-6), so give ``timeout`` room.

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

from ..validation import check_choice, check_count
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
    check_count(batch, "batch", minimum=1)
    return 2 * check_count(n_qubits, "n_qubits", minimum=1) * check_count(n_layers, "n_layers", minimum=1)


#: The paper model's fixed sizes (:class:`~dpqml.models.paper.PaperQuantumModel` with 11 layers) and
#: the weights of its compared scalar ``f = sum_k w_k <Z_k>``.
PAPER_QUBITS, PAPER_LAYERS, PAPER_FEATURES = 4, 11, 16
PAPER_WEIGHTS = (1.0, -0.5, 0.25, 0.75)


def _check_standard(n_qubits: int, n_layers: int, batch: int, noise: str | None) -> int:
    """The standard model's sizes and noise (:func:`parse_peer_noise`); returns ``p = 2 n L``."""
    p = _check_sizes(n_qubits, n_layers, batch)
    parse_peer_noise(noise)
    return p


def _check_paper(n_qubits: int, n_layers: int, batch: int, noise: str | None) -> int:
    """The paper model runs at its own size only (4 qubits, 11 layers), noiseless; returns ``p = 132``."""
    _check_sizes(n_qubits, n_layers, batch)
    for name, value, fixed in (("n_qubits", n_qubits, PAPER_QUBITS), ("n_layers", n_layers, PAPER_LAYERS)):
        if value != fixed:
            raise ValueError(f"{name} must be {fixed} for the paper model (its size is fixed); got {value!r}")
    if noise not in (None, "none", "ideal"):
        raise ValueError(f"noise: the paper model is compared noiseless only (noise=None); got {noise!r}")
    return 3 * PAPER_QUBITS * PAPER_LAYERS


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
        return np.asarray(self._compile(theta, X)(theta, X))

    def _compile(self, theta, X):
        key = (theta.shape, X.shape)
        compiled = self._compiled.get(key)
        if compiled is None:
            with self._context():
                compiled = self._jitted.lower(theta, X).compile()
            self._compiled[key] = compiled
        return compiled

    def looped(self) -> Callable:
        """``(Thetas (R, p), Xs (R, B, F)) -> (R, B, p)``: the same gradient at ``R`` steps inside
        one compiled call (``jax.lax.map``), each step with its own angles and inputs (so nothing
        is hoisted out of the loop), as a compiled training loop runs it. Takes and returns device
        arrays (float32); the caller blocks on the result."""
        import jax

        inner = self._jitted
        outer = _CompiledOnFirstCall(jax.jit(lambda th, xs: jax.lax.map(lambda a: inner(*a), (th, xs))),
                                     self._context)
        return lambda thetas, Xs: outer._compile(thetas, Xs)(thetas, Xs)


# --------------------------------------------------------------------------- builders
# Every builder takes ``(n_qubits, n_layers, batch, noise=None)``, validates them for its model and
# returns ``fn(theta, X) -> (B, p)``; the shared ``_*_grads`` pieces turn a scalar ``f`` into it.


def _dpqml_grads(f) -> GradFn:
    """``jit(vmap(grad(f)))`` over examples, traced in float32."""
    import jax

    return _CompiledOnFirstCall(jax.jit(jax.vmap(jax.grad(f), in_axes=(None, 0))), lambda: _jax_x64(False))


def make_dpqml(n_qubits: int, n_layers: int, batch: int, noise: str | None = None) -> GradFn:
    """dpqml, standard model: ``jit(vmap(grad(expectations(circuit, theta, x)[0])))`` over examples
    (density matrices when ``noise`` is given)."""
    _check_standard(n_qubits, n_layers, batch, noise)
    from ..models import apply_noise, standard_circuit
    from ..quantum import expectations

    circuit = standard_circuit(int(n_qubits), int(n_layers))
    channel = parse_peer_noise(noise)
    if channel is not None:
        circuit = apply_noise(circuit, f"{channel[0]}:{channel[1]!r}")
    return _dpqml_grads(lambda theta, x: expectations(circuit, theta, x)[0])


def make_paper_dpqml(n_qubits: int = PAPER_QUBITS, n_layers: int = PAPER_LAYERS, batch: int = 1,
                     noise: str | None = None) -> GradFn:
    """dpqml, paper model: :meth:`~dpqml.models.paper.PaperQuantumModel.per_example_grads` of
    ``f = logits @ w`` (the model's closed-form adjoint, what the tabular study trains with),
    under ``jax.jit``. The generic circuit path (``expectations`` of the model's circuit, method
    ``auto``) is what ``dpqml bench --model paper-quantum`` times."""
    _check_paper(n_qubits, n_layers, batch, noise)
    import jax
    import jax.numpy as jnp

    from ..models.paper import PaperQuantumModel

    model = PaperQuantumModel(n_qubits=PAPER_QUBITS, n_features=PAPER_FEATURES, n_classes=PAPER_QUBITS,
                              layers=PAPER_LAYERS)
    w = np.asarray(PAPER_WEIGHTS, np.float32)

    def grads(theta, X):
        labels = jnp.zeros((X.shape[0],), jnp.int32)  # f does not read them
        return model.per_example_grads({"theta": theta}, X, labels, loss=lambda z, y: jnp.dot(z, w))[1]["theta"]

    return _CompiledOnFirstCall(jax.jit(grads), lambda: _jax_x64(False))


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


def _pennylane_paper():
    """The paper model's ``f(w, x) = sum_k w_k <Z_k>`` through a PennyLane ``default.qubit`` QNode
    (JAX interface, backprop); one example (``w: (132,), x: (16,)`` -> scalar) or broadcast
    (``(B, 132), (B, 16)`` -> ``(B,)``)."""
    import jax.numpy as jnp
    import pennylane as qml

    n, L = PAPER_QUBITS, PAPER_LAYERS

    @qml.qnode(qml.device("default.qubit", wires=n), interface="jax", diff_method="backprop")
    def circuit(w, x):
        qml.AmplitudeEmbedding(x, wires=range(n), normalize=True, pad_with=0.0)
        for layer in range(L):
            for i in range(n):
                m = 3 * (i * L + layer)
                qml.RZ(w[..., m], wires=i)
                qml.RY(w[..., m + 1], wires=i)
                qml.RZ(w[..., m + 2], wires=i)
            for i in range(n):
                qml.CNOT(wires=[i, (i + 1) % n])
        return [qml.expval(qml.PauliZ(k)) for k in range(n)]

    weights = jnp.asarray(PAPER_WEIGHTS, jnp.float32)
    return lambda w, x: jnp.stack(circuit(w, x), axis=-1) @ weights


def _pennylane_broadcast_grads(f, p: int) -> GradFn:
    """Per-example gradients of ``f(W, X) -> (B,)`` by parameter broadcasting: with
    ``W = (theta, ..., theta)`` of shape ``(B, p)``, row ``b`` of ``d/dW sum_b f(W_b, x_b)`` is
    ``grad f(theta, x_b)``. The whole gradient runs under ``jax.jit``."""
    import jax
    import jax.numpy as jnp

    def grads(theta, X):
        W = jnp.broadcast_to(theta, (X.shape[0], p))  # each row a copy of theta
        return jax.grad(lambda W, X: jnp.sum(f(W, X)))(W, X)

    return _CompiledOnFirstCall(jax.jit(grads), _quiet_pennylane_jax)


def _pennylane_loop_grads(f) -> GradFn:
    """Per-example gradients of the single-example ``f(w, x)`` by a Python loop over examples;
    ``jax.jit(jax.grad(f))`` is compiled once and reused."""
    import jax

    one = _CompiledOnFirstCall(jax.jit(jax.grad(f)), _quiet_pennylane_jax)

    def grads(theta, X) -> np.ndarray:
        return np.stack([one(theta, x) for x in np.asarray(X, dtype=np.float32)])

    return grads


def make_pennylane_broadcast(n_qubits: int, n_layers: int, batch: int, noise: str | None = None) -> GradFn:
    """PennyLane ``default.qubit``, standard model, parameter broadcasting over weights repeated
    per example. JAX interface + ``jax.jit`` (see the module docstring for the measurements that
    chose it over autograd)."""
    p = _check_standard(n_qubits, n_layers, batch, noise)
    return _pennylane_broadcast_grads(_pennylane_qnode(int(n_qubits), int(n_layers), noise), p)


def make_pennylane_loop(n_qubits: int, n_layers: int, batch: int, noise: str | None = None) -> GradFn:
    """PennyLane ``default.qubit``, standard model, a Python loop over examples: one gradient per
    example, JAX interface and ``jax.jit``-compiled once (the fastest loop measured; ``autograd``
    is 20-100x slower per example here)."""
    _check_standard(n_qubits, n_layers, batch, noise)
    return _pennylane_loop_grads(_pennylane_qnode(int(n_qubits), int(n_layers), noise))


def make_paper_pennylane_broadcast(n_qubits: int = PAPER_QUBITS, n_layers: int = PAPER_LAYERS, batch: int = 1,
                                   noise: str | None = None) -> GradFn:
    """PennyLane ``default.qubit``, paper model, parameter broadcasting (``AmplitudeEmbedding``
    takes the ``(B, 16)`` batch)."""
    return _pennylane_broadcast_grads(_pennylane_paper(), _check_paper(n_qubits, n_layers, batch, noise))


def make_paper_pennylane_loop(n_qubits: int = PAPER_QUBITS, n_layers: int = PAPER_LAYERS, batch: int = 1,
                              noise: str | None = None) -> GradFn:
    """PennyLane ``default.qubit``, paper model, a Python loop over examples."""
    _check_paper(n_qubits, n_layers, batch, noise)
    return _pennylane_loop_grads(_pennylane_paper())


def _tensorcircuit_grads(tc, f) -> GradFn:
    """TensorCircuit's ``jit(vmap(grad(f)))`` over examples on the JAX backend in complex64.

    The backend and dtype are TensorCircuit globals read while tracing, so they are set only
    around tracing (first call per shape) and restored afterwards; ``f`` reads ``tc.backend`` at
    trace time."""
    with _tensorcircuit_jax_complex64(tc):
        K = tc.backend  # the JAX backend object; its jit/vmap/grad are JAX's
        jitted = K.jit(K.vmap(K.grad(f), vectorized_argnums=1))
    return _CompiledOnFirstCall(jitted, lambda: _tensorcircuit_jax_complex64(tc))


def make_tensorcircuit(n_qubits: int, n_layers: int, batch: int, noise: str | None = None) -> GradFn:
    """TensorCircuit-NG, standard model (``DMCircuit``, the channel after every gate on each of
    its wires, when ``noise`` is given)."""
    _check_standard(n_qubits, n_layers, batch, noise)
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
        return tc.backend.real(c.expectation_ps(z=[0]))

    return _tensorcircuit_grads(tc, f)


def make_paper_tensorcircuit(n_qubits: int = PAPER_QUBITS, n_layers: int = PAPER_LAYERS, batch: int = 1,
                             noise: str | None = None) -> GradFn:
    """TensorCircuit-NG, paper model: the amplitude encoding is the input state
    ``tc.Circuit(4, inputs=x / ||x||)`` (16 features = 2**4 amplitudes, no padding)."""
    _check_paper(n_qubits, n_layers, batch, noise)
    tc = _import_tensorcircuit()
    n, L = PAPER_QUBITS, PAPER_LAYERS

    def f(theta, x):
        K = tc.backend
        c = tc.Circuit(n, inputs=K.cast(x / K.norm(x), "complex64"))
        for layer in range(L):
            for i in range(n):
                m = 3 * (i * L + layer)
                c.rz(i, theta=theta[m])
                c.ry(i, theta=theta[m + 1])
                c.rz(i, theta=theta[m + 2])
            for i in range(n):
                c.cnot(i, (i + 1) % n)
        return sum(w * K.real(c.expectation_ps(z=[k])) for k, w in enumerate(PAPER_WEIGHTS))

    return _tensorcircuit_grads(tc, f)


class Approach(NamedTuple):
    framework: str
    loop: bool = False  # a Python loop over examples: timed with one steady-state call


APPROACHES: dict[str, Approach] = {
    "dpqml": Approach("dpqml"),
    "pennylane-broadcast": Approach("pennylane"),
    "pennylane-loop": Approach("pennylane", loop=True),
    "tensorcircuit": Approach("tensorcircuit"),
}


class Model(NamedTuple):
    """A model every approach builds: its argument check, seeded inputs and one builder per approach."""

    check: Callable[[int, int, int, str | None], int]  # (n_qubits, n_layers, batch, noise) -> p; ValueError
    inputs: Callable[[int, int, int, int], tuple[np.ndarray, np.ndarray]]  # (n, L, batch, seed) -> theta, X
    builders: dict[str, Callable[..., GradFn]]  # approach -> builder(n_qubits, n_layers, batch, noise=None)


def _inputs(n_qubits: int, n_layers: int, batch: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Standard model: ``theta (2 n L,)`` and ``X (batch, n)``, both uniform in ``[-pi, pi)``."""
    rng = np.random.default_rng(seed)
    theta = rng.uniform(-np.pi, np.pi, 2 * n_qubits * n_layers).astype(np.float32)
    X = rng.uniform(-np.pi, np.pi, (batch, n_qubits)).astype(np.float32)
    return theta, X


def _paper_inputs(n_qubits: int, n_layers: int, batch: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Paper model: ``theta (132,)`` uniform in ``[0, 2 pi)`` (its initialisation), ``X (batch, 16)``
    standard normal (standardised features)."""
    rng = np.random.default_rng(seed)
    theta = rng.uniform(0.0, 2 * np.pi, 3 * PAPER_QUBITS * PAPER_LAYERS).astype(np.float32)
    X = rng.standard_normal((batch, PAPER_FEATURES)).astype(np.float32)
    return theta, X


MODELS: dict[str, Model] = {
    "standard": Model(_check_standard, _inputs, {
        "dpqml": make_dpqml, "pennylane-broadcast": make_pennylane_broadcast,
        "pennylane-loop": make_pennylane_loop, "tensorcircuit": make_tensorcircuit}),
    "paper": Model(_check_paper, _paper_inputs, {
        "dpqml": make_paper_dpqml, "pennylane-broadcast": make_paper_pennylane_broadcast,
        "pennylane-loop": make_paper_pennylane_loop, "tensorcircuit": make_paper_tensorcircuit}),
}


def available(framework: str) -> bool:
    """Whether ``framework`` can be imported here (never raises for a missing package)."""
    check_choice(framework, "framework", FRAMEWORKS)
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


@dataclass(frozen=True)
class Measurement:
    approach: str
    grads: np.ndarray  # (batch_used, p)
    timing: Timing
    batch_used: int
    note: str = ""
    loop_timing: Timing | None = None  # the compiled loop (``loop_steps`` > 0), one call = all its steps
    loop_steps: int = 0

    @property
    def examples_per_second(self) -> float:
        return self.batch_used / self.timing.seconds_per_call

    @property
    def loop_examples_per_second(self) -> float | None:
        """Examples/s inside a compiled loop of ``loop_steps`` batches; ``None`` when not timed."""
        if self.loop_timing is None:
            return None
        return self.loop_steps * self.batch_used / self.loop_timing.seconds_per_call


def measure(approach: str, n_qubits: int, n_layers: int, batch: int, *, min_seconds: float = 1.0,
            seed: int = 0, loop_batch: int | None = None, noise: str | None = None,
            model: str = "standard", loop_steps: int = 0) -> Measurement:
    """Build ``approach`` for ``model`` (:data:`MODELS`), time it with
    :func:`~dpqml.bench.timing.time_call`, keep its gradients.

    Loop approaches get one steady-state call (after the compiling first call), on the first
    ``loop_batch`` examples (all of them when ``None``).

    ``loop_steps`` > 0 (compiled approaches only): also time ``loop_steps`` batches inside one
    compiled call (:meth:`_CompiledOnFirstCall.looped`; steps seeded ``seed + 1, seed + 2, ...``,
    inputs placed on the device once). A call from Python pays JAX's dispatch and the host
    round trip of its inputs and outputs (about 100 µs a call on 2 CPU cores, whatever the circuit); the
    loop spreads it over the steps, as a compiled training loop does."""
    if approach not in APPROACHES:
        raise ValueError(f"unknown approach {approach!r}; valid approaches are {list(APPROACHES)}")
    spec = MODELS[check_choice(model, "model", MODELS)]
    spec.check(n_qubits, n_layers, batch, noise)
    loop_steps = check_count(loop_steps, "loop_steps")
    theta, X = spec.inputs(n_qubits, n_layers, batch, seed)
    loop = APPROACHES[approach].loop
    note = ""
    if loop:
        used = batch if loop_batch is None else max(1, min(int(loop_batch), batch))
        X = X[:used]
        note = "Python loop; one steady-state call"
        if used < batch:
            note += f" on {used} of {batch} examples"
    fn = spec.builders[approach](n_qubits, n_layers, batch, noise)
    out: dict[str, np.ndarray] = {}

    def run():
        out["grads"] = fn(theta, X)
        return out["grads"]

    if loop:
        timing = time_call(run, min_seconds=0.0, min_calls=1, max_calls=1)
    else:
        timing = time_call(run, min_seconds=min_seconds)
    loop_timing = None
    if loop_steps and not loop:
        loop_timing = _time_loop(fn, spec, n_qubits, n_layers, batch, seed, loop_steps, min_seconds)
    return Measurement(approach, np.asarray(out["grads"]), timing, X.shape[0], note, loop_timing,
                       loop_steps if loop_timing is not None else 0)


def _time_loop(fn, spec: Model, n_qubits: int, n_layers: int, batch: int, seed: int, steps: int,
               min_seconds: float) -> Timing:
    """Time ``fn.looped()`` over ``steps`` batches (see :func:`measure`)."""
    import jax.numpy as jnp

    pairs = [spec.inputs(n_qubits, n_layers, batch, seed + 1 + r) for r in range(steps)]
    with _jax_x64(False):
        thetas = jnp.asarray(np.stack([t for t, _ in pairs]), jnp.float32)
        Xs = jnp.asarray(np.stack([x for _, x in pairs]), jnp.float32)
    looped = fn.looped()
    result = {}

    def run():
        result["grads"] = looped(thetas, Xs)
        return result["grads"]

    timing = time_call(run, min_seconds=min_seconds)
    if not np.all(np.isfinite(np.asarray(result["grads"]))):
        raise FloatingPointError(f"{steps} compiled steps gave non-finite gradients")
    return timing


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
            timeout: float | None = None, noise: str | None = None, model: str = "standard",
            loop_steps: int = 0) -> list[dict]:
    """Time every approach of ``frameworks`` against dpqml on the same seeded ``theta``/``X``.

    ``model``: ``"standard"`` (any ``n_qubits``, ``n_layers``, optionally noisy) or ``"paper"`` (the
    paper's tabular model: ``n_qubits=4, n_layers=11``, noiseless); see the module docstring.
    Returns one row per approach, dpqml's first: ``framework, approach, model, qubits, layers, batch``
    (the examples actually timed), ``examples_per_second``, ``compile_seconds`` (first call
    minus a steady one), ``max_abs_diff_vs_dpqml``, ``agrees`` (to ``1e-4``),
    ``ratio_dpqml_over_this`` (dpqml's examples/s over this one's: > 1 means dpqml is faster),
    and ``note``. A framework that is not installed gives rows with ``skipped`` instead.
    ``timeout`` (seconds): run each non-dpqml approach in a subprocess and skip it when it
    does not finish in time (the subprocess's imports count towards it). ``noise``: one channel
    after every gate (:data:`PEER_NOISE`; ``name:strength``): density matrices everywhere (PennyLane
    ``default.mixed``, TensorCircuit ``DMCircuit``); an approach that fails gives a ``skipped`` row
    with its error. ``loop_steps`` > 0: every compiled approach is also timed over that many
    batches inside one compiled call (:func:`measure`); rows then carry
    ``loop_examples_per_second``, ``loop_compile_seconds`` and ``ratio_dpqml_over_this_loop``
    (``None`` for the Python-loop approach).
    """
    if isinstance(frameworks, str):
        frameworks = (frameworks,)
    for fw in frameworks:
        check_choice(fw, "framework", FRAMEWORKS)
    MODELS[check_choice(model, "model", MODELS)].check(n_qubits, n_layers, batch, noise)
    loop_steps = check_count(loop_steps, "loop_steps")
    kwargs = {"min_seconds": min_seconds, "seed": seed, "loop_batch": loop_batch, "noise": noise, "model": model,
              "loop_steps": loop_steps}
    ref = measure("dpqml", n_qubits, n_layers, batch, **kwargs)
    base = {"model": model, "qubits": n_qubits, "layers": n_layers, "noise": noise or "none"}

    def row(m: Measurement) -> dict:
        diff = float(np.max(np.abs(m.grads - ref.grads[: m.batch_used]))) if m.grads.size else 0.0
        return {"framework": APPROACHES[m.approach].framework, "approach": m.approach, **base,
                "batch": m.batch_used, "examples_per_second": m.examples_per_second,
                "compile_seconds": m.timing.compile_seconds, "max_abs_diff_vs_dpqml": diff,
                "agrees": bool(diff <= ATOL),
                "ratio_dpqml_over_this": ref.examples_per_second / m.examples_per_second,
                "note": m.note, **loop_fields(m)}

    def loop_fields(m: Measurement) -> dict:
        if not loop_steps:
            return {}
        mine, theirs = ref.loop_examples_per_second, m.loop_examples_per_second
        return {"loop_steps": loop_steps, "loop_examples_per_second": theirs,
                "loop_compile_seconds": None if m.loop_timing is None else m.loop_timing.compile_seconds,
                "ratio_dpqml_over_this_loop": None if theirs is None or mine is None else mine / theirs}

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
