"""Memory estimates, checked before any simulation work starts."""

from __future__ import annotations

import os

from .circuit import Circuit
from .methods import REGISTRY, applicable, resolve_method, simulation_kind, why_not

_KIND_PLURAL = {"pauli-basis": "Pauli-basis rows", "density-matrix": "density matrices",
                "tensor-network": "tensor networks", "state-vector": "state vectors",
                "trajectories": "sampled state vectors"}


def available_memory_bytes() -> int:
    """Physical memory of this machine (``os.sysconf``), or 16 GiB where unknown."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 16 * 2**30


def estimate_memory_bytes(circuit: Circuit, batch: int, *, double: bool = False,
                          method: str = "auto", gradients: bool = True) -> int:
    """Rough peak memory of simulating (and differentiating) ``batch`` examples with ``method``
    (``"auto"``: the method :func:`.methods.auto_method` picks), as the method's module counts it
    (``memory_bytes`` of :data:`.methods.REGISTRY`). A state vector takes ``2**n`` complex numbers
    (8 bytes each in single precision, 16 in double); a density matrix ``4**n``; adjoint
    differentiation keeps a few states per example (:data:`.costs.ADJOINT_LIVE_STATES`), backprop
    one per fused step, the Pauli basis its shared rows (:func:`.pauli_basis.rows_bytes`), a tensor
    network its intermediates. A method that cannot run the circuit is refused (:func:`.methods.why_not`).
    """
    method = resolve_method(circuit, method)
    refusal = why_not(circuit, method)
    if refusal is not None:
        raise ValueError(refusal)
    return REGISTRY[method].memory_bytes(circuit, max(int(batch), 1), 16 if double else 8, gradients)


def check_memory(circuit: Circuit, batch: int, *, double: bool = False, method: str = "auto",
                 limit_bytes: int | None = None, gradients: bool = True) -> int:
    """Raise ``MemoryError`` (with the estimate) when the simulation cannot fit; return the estimate.

    ``batch`` counts the circuit simulations held at once (for parameter shift: examples times
    shifted evaluations, with ``gradients=False``)."""
    method = resolve_method(circuit, method)
    need = estimate_memory_bytes(circuit, batch, double=double, method=method, gradients=gradients)
    limit = available_memory_bytes() if limit_bytes is None else int(limit_bytes)
    if need > limit:
        kind = _KIND_PLURAL[simulation_kind(circuit, method)]
        raise MemoryError(
            f"simulating {circuit.n_qubits} qubits ({kind}) for a batch of {batch} needs about "
            f"{need / 2**30:.1f} GiB, more than the {limit / 2**30:.1f} GiB available (method {method!r}); "
            + _what_fits(circuit, batch, double=double, limit=limit, gradients=gradients)
        )
    return need


def check_shift_memory(circuit: Circuit, batch: int, evaluations: int, *, double: bool = False,
                       limit_bytes: int | None = None) -> int:
    """The parameter-shift rule's check: ``batch`` examples times ``evaluations`` shifted circuits,
    simulated at once without automatic differentiation (the way the shift engine runs them).
    Raises ``MemoryError`` with the estimate and the largest batch that fits; returns the estimate."""
    def need(b: int) -> int:
        return estimate_memory_bytes(circuit, b * evaluations, double=double, method="backprop", gradients=False)

    limit = available_memory_bytes() if limit_bytes is None else int(limit_bytes)
    if need(batch) <= limit:
        return need(batch)
    lo = _largest_batch(need, batch, limit)
    kind = _KIND_PLURAL[simulation_kind(circuit, "backprop")]
    fits = (f"a batch of at most {lo} example{'s' if lo > 1 else ''} fits" if lo else
            "not even one example fits; use fewer qubits, or exact gradients (method 'auto') or "
            "method 'trajectories' instead of the shift rule")
    raise MemoryError(
        f"the parameter-shift rule simulates {evaluations} shifted circuits per example at once: "
        f"{circuit.n_qubits} qubits ({kind}) for a batch of {batch} examples need about {need(batch) / 2**30:.1f} "
        f"GiB, more than the {limit / 2**30:.1f} GiB available; {fits}")


def _largest_batch(need, batch: int, limit: int) -> int:
    """The largest batch ``b <= batch`` with ``need(b) <= limit`` (0 if none), by bisection: the
    estimate grows with the batch."""
    lo, hi = 0, int(batch)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if need(mid) <= limit else (lo, mid - 1)
    return lo


def _what_fits(circuit: Circuit, batch: int, *, double: bool, limit: int, gradients: bool) -> str:
    """What would fit instead: another method at this batch, else the largest batch per method."""
    fits, smaller = [], []
    for m in applicable(circuit):
        if estimate_memory_bytes(circuit, batch, double=double, method=m, gradients=gradients) <= limit:
            fits.append(m)
            continue
        lo = _largest_batch(lambda b, m=m: estimate_memory_bytes(circuit, b, double=double, method=m,
                                                                 gradients=gradients), batch, limit)
        if lo >= 1:
            smaller.append(f"{m!r} up to batch {lo}")
    if fits:
        return f"method {' or '.join(repr(m) for m in fits)} fits this batch"
    estimate = _estimator_fits(circuit, batch, double=double, limit=limit, gradients=gradients)
    if smaller:
        return f"these fit a smaller batch: {', '.join(smaller)}{estimate}"
    prec = "" if not double else " or single precision"
    return f"no exact method fits even one example; use fewer qubits{prec}{estimate}"


def _estimator_fits(circuit: Circuit, batch: int, *, double: bool, limit: int, gradients: bool) -> str:
    """Where no exact method fits the batch: the estimating methods that would (one trajectory per
    example counted; several multiply it), or ``""``."""
    out = [m for m in applicable(circuit, estimators=True) if not REGISTRY[m].exact
           and REGISTRY[m].memory_bytes(circuit, max(int(batch), 1), 16 if double else 8, gradients) <= limit]
    return "".join(f"; method {m!r} would fit this batch (one sample each: a Monte Carlo estimate, not exact "
                   f"values)" for m in out)
