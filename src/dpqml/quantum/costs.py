"""The constants behind the automatic method choice and the memory estimates, in one place.

Every figure here was measured on this project's reference machine (2 CPU cores, JAX's CPU
wheels, float32, per-example gradients at batch 64; ``docs/engine.md``) and only steers *which*
method runs or *whether* a batch is refused: no result depends on them. Re-fit them with the
benchmark named beside each when the engine changes or on another machine.
"""

from __future__ import annotations

# --- state vector ------------------------------------------------------------------------
#: Single-qubit gates on up to this many adjacent wires are applied as one matrix (measured at
#: batch 64: groups of 3 and 4 wires are level, 6 is twice as slow).
GROUP_WIRES = 4

#: Up to this many qubits a permutation right after the product state the first single-qubit
#: gates prepare is folded into it (:func:`.core.product_state`: constant tables of ``2**n``
#: entries per wire, instead of a gather over every example's state).
PRODUCT_PERM_QUBITS = 12

#: From this many qubits the adjoint method keeps its states in the real layout
#: (:func:`.kernels.to_real`), where grouped gates are real matrix products (n = 12, L = 6:
#: 600-670 -> 863 ex/s; n = 16, L = 6: 32 -> 52; but n = 8 slower, 7,200 -> 5,300, where the
#: conversions cost more than the products save).
REAL_LAYOUT_QUBITS = 10

#: Seconds per example of the adjoint state vector: ``SV_SECONDS + steps · (SV_SECONDS_PER_STEP +
#: SV_SECONDS_PER_AMPLITUDE_STEP · 2**n)``, steps counted in the grouped program. Fitted with the
#: tensor network's constants below to the standard model (n = 4..16, L = 1..6;
#: ``benchmarks/method_costs.py``, output in ``benchmarks/results-method-costs.json``) and
#: checked on the re-uploading and strongly entangling ansaetze. Only the ratio matters.
SV_SECONDS = 1.4e-5
SV_SECONDS_PER_STEP = 1.7e-6
SV_SECONDS_PER_AMPLITUDE_STEP = 1.6e-8

#: The adjoint's forward pass stores the state entering each step when those states take at most
#: this many bytes per example (complex64), so its backward pass skips undoing them (one matrix
#: product fewer per step). Measured at batch 64: n = 8, L = 2: 59.7k -> 63.1k ex/s; L = 6:
#: 14.9k -> 16.6k; n = 6 level; but n = 10, L = 6: 6.4k -> 5.7k and n = 12, L = 6: 2.7k -> 1.5k,
#: where the stored states cost more memory traffic than the products they save.
ADJOINT_STORE_BYTES = 2**16

#: Live states per example while the adjoint method differentiates (XLA's buffers measured 6-9.5
#: states per example at n = 12-20).
ADJOINT_LIVE_STATES = 10

# --- tensor network ----------------------------------------------------------------------
#: Seconds per example of a tensor network: ``tensors · TN_SECONDS_PER_TENSOR + flops ·
#: TN_SECONDS_PER_FLOP`` (same fit as the state vector's constants).
TN_SECONDS_PER_TENSOR = 1.1e-6
TN_SECONDS_PER_FLOP = 0.8e-9

# --- Heisenberg picture ------------------------------------------------------------------
#: Noiseless circuits: ``auto`` uses the dense Heisenberg picture where it was measured faster
#: than the adjoint state vector (``dpqml bench --method all``, batch 64, after the rewrite of
#: its Jacobian): n <= 4 with at most HEISENBERG_MAX_PARAMS_4 parameters and (observables x
#: parameters) <= HEISENBERG_MAX_TERMS_4 (measured
#: faster at every point up to 768: n = 4, L = 30, one observable: 19,089 against 2,817 ex/s;
#: amplitude encoding, four observables, L = 24: 20,253 against 4,407; the paper's model, 4 x 132:
#: 1.9 against 3.5 ms per batch), or n = HEISENBERG_MAX_QUBITS with one observable and at most
#: HEISENBERG_MAX_PARAMS_5 parameters (L = 20: 10,724 against 4,559). It loses at n = 5 with five
#: observables (14,013 against 22,518) and at n = 6 (33,188 against 42,140 at L = 2).
#: Re-measured on 2026-12-04 (the adjoint storing its states, the Heisenberg picture contracting
#: pair moments; `dpqml bench --qubits N --layers L --method M`, one call each): n = 4 still wins
#: everywhere (L = 2: 419,436 against 184,461; L = 16: 79,352 against 11,288; L = 30: 35,079
#: against 3,086; L = 6 with four observables: 80,753 against 53,025); n = 6 loses (L = 2: 33,406
#: against 112,933; L = 6: 12,467 against 30,911); n = 5 with five observables still loses (L = 6:
#: 19,643 against 42,532). n = 5 with one observable became a tie at few parameters: over three
#: runs, L = 2 (20 parameters) 0.82-1.09x, L = 4 (40) 1.01-1.04x, L = 6 (60) 1.03-1.19x, L = 10
#: 1.46x. Below HEISENBERG_MIN_PARAMS_5 the adjoint is kept (it compiles in half the time).
HEISENBERG_MAX_QUBITS = 5
HEISENBERG_MAX_TERMS_4 = 768
HEISENBERG_MAX_PARAMS_4 = 240  # the deepest point measured (its compile time grows with depth)
HEISENBERG_MAX_PARAMS_5 = 200
HEISENBERG_MIN_PARAMS_5 = 60

#: Noisy circuits: ``auto`` runs the Pauli basis whenever its shared sweep (``K·(A + 1)`` rows of
#: ``4**n`` reals, :func:`.pauli_basis.rows_bytes`) fits in this many bytes: it was measured faster
#: than the density matrix at every point of the noisy grid (n = 4-10, L = 2, 6;
#: ``benchmarks/compare_frameworks.py --noise``). 1 GiB: n = 10 with about 250 angles per observable.
PAULI_MAX_ROWS_BYTES = 2**30

#: Copies of the shared rows alive at once in the Pauli-basis sweep (the rows, their image, the
#: concatenation; measured 1.0 GiB of XLA buffers at n = 10, L = 6, ``nisq``, batch 16, against
#: 1.6 GiB estimated).
PAULI_ROW_COPIES = 3
