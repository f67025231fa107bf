"""The registry of simulation methods, and ``auto`` as a choice over it.

Each method lives in its own module, built on the shared execution core (:mod:`.core`), and
offers the same small interface:

* ``needs(circuit)``: ``None`` when the method can run the circuit, else what it needs;
* ``expectations(circuit, theta, x)``: ``<O_k>`` for one validated example (differentiable);
* ``auto_seconds(circuit)``: what ``auto`` weighs: estimated seconds per example of a
  per-example gradient (a cost model, :mod:`.costs`), ``0.0`` where a measured rule says the
  method is fastest, ``inf`` for a fallback, ``None`` where ``auto`` never chooses it;
* ``memory_bytes(circuit, batch, itemsize, gradients)``: rough peak memory of a batch;
* ``holds(circuit)``: what the simulation holds (``"state-vector"``, ``"density-matrix"``,
  ``"pauli-basis"``, ``"tensor-network"``, ``"trajectories"``).

A method is *exact* (the default) or an *estimator*: ``"trajectories"`` (:mod:`.trajectories`)
averages sampled state vectors, so it needs a PRNG key and a number of trajectories, its
``expectations`` refuses with where to find them, ``auto`` never picks it, and
:func:`applicable` lists it only when asked for estimators too.

:func:`.simulate.expectations` runs a method through :data:`REGISTRY` (refusing it with
:func:`why_not`), the memory check (:mod:`.memory`) asks every applicable method what fits,
``dpqml bench --method all`` times every applicable method, and the tests compare every
registered method with PennyLane (``tests/quantum/test_against_pennylane.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..validation import check_choice
from . import adjoint, backprop, heisenberg, tensornet, trajectories
from .circuit import Circuit
from .precision import exact_products


@dataclass(frozen=True)
class Method:
    """One way of computing expectation values and their gradients (see the module docstring)."""

    name: str
    summary: str
    needs: Callable[[Circuit], str | None]
    expectations: Callable
    auto_seconds: Callable[[Circuit], float | None]
    memory_bytes: Callable[[Circuit, int, int, bool], int]
    holds: Callable[[Circuit], str]
    exact: bool = True


def _method(name: str, module, summary: str, exact: bool = True) -> Method:
    # every product at full precision, on a GPU too (.precision)
    return Method(name, summary, module.needs, exact_products(module.expectations), module.auto_seconds,
                  module.memory_bytes, module.holds, exact)


REGISTRY: dict[str, Method] = {
    m.name: m
    for m in (
        _method("adjoint", adjoint, "state vector, adjoint differentiation (one state per example, "
                                    "walked backwards)"),
        _method("backprop", backprop, "state vector or, for noisy circuits, density matrix, "
                                      "differentiated by JAX's reverse mode"),
        _method("heisenberg", heisenberg, "Heisenberg picture: the observable evolved backwards once "
                                          "per batch (dense unitary when noiseless, Pauli basis when noisy)"),
        _method("tensor-network", tensornet, "tensor network inside the observable's light cone "
                                             "(shallow circuits)"),
        _method("trajectories", trajectories, "noisy circuits as sampled state vectors, an unbiased "
                                              "Monte Carlo estimate (needs a key and a number of "
                                              "trajectories; never chosen by auto)", exact=False),
    )
}

#: The values ``method=`` accepts.
METHODS = ("auto", *REGISTRY)


def check_method(method: str) -> None:
    """Raise ``ValueError`` naming the valid methods unless ``method`` is one of :data:`METHODS`."""
    check_choice(method, "method", METHODS)


def why_not(circuit: Circuit, method: str) -> str | None:
    """``None`` when ``method`` can run ``circuit``, else a message naming what it needs."""
    need = REGISTRY[method].needs(circuit)
    return None if need is None else f"method={method!r} needs {need}"


def applicable(circuit: Circuit, *, estimators: bool = False) -> list[str]:
    """The registered exact methods that can run ``circuit`` (``estimators=True``: the methods
    that estimate, such as ``"trajectories"``, too)."""
    return [name for name, m in REGISTRY.items() if m.needs(circuit) is None and (m.exact or estimators)]


def auto_method(circuit: Circuit) -> str:
    """The method ``method="auto"`` uses: among the applicable methods, the one of least
    ``auto_seconds`` (ties go to the earlier registered). Noiseless circuits: the Heisenberg
    picture on small registers, else the tensor network or the adjoint state vector by their
    cost models; noisy: the Pauli basis where it fits, else backprop through the density matrix."""
    best, best_cost = None, None
    for name in applicable(circuit):
        cost = REGISTRY[name].auto_seconds(circuit)
        if cost is not None and (best_cost is None or cost < best_cost):
            best, best_cost = name, cost
    if best is None:  # pragma: no cover - backprop runs every circuit and is always a candidate when noisy
        raise AssertionError(f"no registered method runs {circuit!r}")
    return best


def resolve_method(circuit: Circuit, method: str = "auto") -> str:
    """The method :func:`.simulate.expectations` runs for ``method`` (``"auto"``: :func:`auto_method`)."""
    check_method(method)
    return auto_method(circuit) if method == "auto" else method


def simulation_kind(circuit: Circuit, method: str = "auto") -> str:
    """What the simulation holds: ``"pauli-basis"`` (noisy, Heisenberg picture),
    ``"density-matrix"``, ``"tensor-network"`` or ``"state-vector"``."""
    return REGISTRY[resolve_method(circuit, method)].holds(circuit)


def estimated_seconds(circuit: Circuit) -> dict[str, float]:
    """The fitted cost models (:mod:`.costs`): estimated seconds per example of a per-example
    gradient for ``"adjoint"`` (noiseless) and, where a network can be built, ``"tensor-network"``."""
    out = {}
    if not circuit.is_noisy:
        out["adjoint"] = adjoint.seconds(circuit)
    tn = tensornet.seconds(circuit)
    if tn is not None:
        out["tensor-network"] = tn
    return out
