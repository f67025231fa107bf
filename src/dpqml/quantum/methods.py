"""The registry of simulation methods: what each holds, which circuits it accepts, and why not.

:func:`.simulate.expectations` refuses a method through :func:`why_not`, the memory check
(:func:`.memory.check_memory`) proposes the methods of :func:`applicable`, and the tests compare
every registered method with PennyLane (``tests/quantum/test_against_pennylane.py`` iterates
:data:`REGISTRY`). ``auto`` (:func:`.simulate.auto_method`) chooses among the applicable methods
by the cost rules kept beside each method's code (``simulate.estimated_seconds`` for the state
vector against the tensor network, ``heisenberg.auto_eligible`` and
``simulate.PAULI_MAX_ROWS_BYTES`` for the Heisenberg picture).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .circuit import Circuit


@dataclass(frozen=True)
class Method:
    """One way of computing expectation values and their gradients."""

    name: str
    summary: str
    #: ``None`` when the method can run the circuit, else what it needs (completes "needs ...").
    needs: Callable[[Circuit], str | None]


def _adjoint_needs(circuit: Circuit) -> str | None:
    return "a noiseless circuit; noisy circuits use 'backprop'" if circuit.is_noisy else None


def _heisenberg_needs(circuit: Circuit) -> str | None:
    from .heisenberg import split_encoding

    if split_encoding(circuit) is None:
        return ("a circuit that encodes the data first and trains afterwards (no trainable angle "
                "before the last feature-dependent gate)")
    return None


def _tensor_network_needs(circuit: Circuit) -> str | None:
    from .simulate import network_for
    from .tensornet import MAX_TENSORS

    if network_for(circuit) is not None:
        return None
    if circuit.is_noisy:
        return "a noiseless circuit"
    if circuit.state_prep != "zero":
        return "a circuit started in |0...0> (no amplitude encoding)"
    return f"at most {MAX_TENSORS} tensors"


REGISTRY: dict[str, Method] = {
    m.name: m
    for m in (
        Method("adjoint", "state vector, adjoint differentiation (one state per example, walked "
                          "backwards)", _adjoint_needs),
        Method("backprop", "state vector or, for noisy circuits, density matrix, differentiated by "
                           "JAX's reverse mode", lambda circuit: None),
        Method("heisenberg", "Heisenberg picture: the observable evolved backwards once per batch "
                             "(dense unitary when noiseless, Pauli basis when noisy)", _heisenberg_needs),
        Method("tensor-network", "tensor network inside the observable's light cone (shallow "
                                 "circuits)", _tensor_network_needs),
    )
}


def why_not(circuit: Circuit, method: str) -> str | None:
    """``None`` when ``method`` can run ``circuit``, else a message naming what it needs."""
    need = REGISTRY[method].needs(circuit)
    return None if need is None else f"method={method!r} needs {need}"


def applicable(circuit: Circuit) -> list[str]:
    """The registered methods that can run ``circuit``."""
    return [name for name, m in REGISTRY.items() if m.needs(circuit) is None]
