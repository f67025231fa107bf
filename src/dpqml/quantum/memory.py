"""Memory estimates, checked before any simulation work starts."""

from __future__ import annotations

import os

from .circuit import Circuit
from .methods import applicable
from .simulate import network_for, program_for, resolve_method, simulation_kind

_KIND_PLURAL = {"pauli-basis": "Pauli-basis rows", "density-matrix": "density matrices",
                "tensor-network": "tensor networks", "state-vector": "state vectors"}


def available_memory_bytes() -> int:
    """Physical memory of this machine (``os.sysconf``), or 16 GiB where unknown."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 16 * 2**30


def estimate_memory_bytes(circuit: Circuit, batch: int, *, double: bool = False,
                          method: str = "auto", gradients: bool = True) -> int:
    """Rough peak memory of simulating (and differentiating) ``batch`` examples.

    A state vector takes ``2**n`` complex numbers (8 bytes each in single precision, 16 in
    double); a density matrix ``4**n``. Adjoint differentiation keeps a few states per example
    plus the copies around each group's matrix product (XLA's buffers measured 6–9.5 states per
    example at n = 12–20; counted as 10); backprop keeps one per fused gate (density matrices
    too). The Heisenberg method on noisy circuits keeps its shared Pauli-basis rows
    (:func:`.pauli.rows_bytes`; measured: 1.0 GiB of XLA buffers at n = 10, L = 6, ``nisq``,
    batch 16, estimated 1.6 GiB) and a few real vectors per example. The tensor-network method
    keeps its intermediates, at most (tensors x largest intermediate) numbers per example.
    """
    itemsize = 16 if double else 8
    n = circuit.n_qubits
    noisy = circuit.is_noisy
    method = resolve_method(circuit, method)
    if method == "tensor-network" and not noisy:
        net = network_for(circuit)
        if net is not None:
            return int(itemsize * net.n_tensors * net.largest * (2 if gradients else 1) * max(int(batch), 1))
    if method == "heisenberg" and noisy:
        # Pauli basis (real): the shared sweep's rows, about three copies live at a block (the
        # rows, their image, the concatenation), plus a few real 4**n vectors per example.
        from .pauli import rows_bytes

        return int(3 * rows_bytes(circuit, double=double) + 3 * (itemsize // 2) * 4**n * max(int(batch), 1))
    per_state = itemsize * (4**n if noisy else 2**n)
    if not gradients:
        live = 3
    elif noisy or method == "backprop":
        live = len(program_for(circuit, mixed=noisy).steps) + 3
    else:
        live = 10
    return int(per_state * live * max(int(batch), 1))


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


def _what_fits(circuit: Circuit, batch: int, *, double: bool, limit: int, gradients: bool) -> str:
    """What would fit instead: another method at this batch, else the largest batch per method."""
    fits, smaller = [], []
    for m in applicable(circuit):
        if estimate_memory_bytes(circuit, batch, double=double, method=m, gradients=gradients) <= limit:
            fits.append(m)
            continue
        lo, hi = 0, int(batch)  # the largest batch that fits: the estimate grows with the batch
        while lo < hi:
            mid = (lo + hi + 1) // 2
            ok = estimate_memory_bytes(circuit, mid, double=double, method=m, gradients=gradients) <= limit
            lo, hi = (mid, hi) if ok else (lo, mid - 1)
        if lo >= 1:
            smaller.append(f"{m!r} up to batch {lo}")
    if fits:
        return f"method {' or '.join(repr(m) for m in fits)} fits this batch"
    if smaller:
        return f"these fit a smaller batch: {', '.join(smaller)}"
    prec = "" if not double else " or single precision"
    return f"no method fits even one example; use fewer qubits{prec}"
