"""The execution core shared by every simulation method: lowering, inputs, step payloads, the
state-vector and density-matrix step kernels, and the measurement of Pauli terms.

The methods (:mod:`.methods` lists them) are built from these pieces; none of them imports
another method's private names. Functions here take one example: ``theta`` (trainable angles,
real) and ``x`` (features), and are pure JAX.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from weakref import WeakKeyDictionary

import jax
import jax.numpy as jnp
import numpy as np

from . import kernels as K
from .circuit import Circuit
from .costs import GROUP_WIRES, PRODUCT_PERM_QUBITS
from .gates import complex_dtype
from .precision import exact_products
from .program import Program, lower

_PROGRAMS: WeakKeyDictionary = WeakKeyDictionary()
_SPLITS: WeakKeyDictionary = WeakKeyDictionary()


def program_for(circuit: Circuit, mixed: bool) -> Program:
    """``circuit`` lowered to state-vector (``mixed=False``) or density-matrix steps (cached)."""
    cache = _PROGRAMS.setdefault(circuit, {})
    if mixed not in cache:
        cache[mixed] = lower(circuit, mixed=mixed)
    return cache[mixed]


def state_program(circuit: Circuit) -> Program:
    """The state-vector program: :func:`program_for` with single-qubit runs grouped into
    Kronecker steps of up to :data:`.costs.GROUP_WIRES` wires (cached)."""
    cache = _PROGRAMS.setdefault(circuit, {})
    if "state" not in cache:
        cache["state"] = lower(circuit, mixed=False, group=GROUP_WIRES)
    return cache["state"]


def product_prefix(circuit: Circuit) -> tuple[int, Program | None]:
    """``(k, rest)``: the state program's first ``k`` steps prepare a product state from
    ``|0...0>``, possibly permuted: single-qubit chains, alone or grouped, each on wires no
    earlier multi-qubit step touched, then at most one "perm" step on every wire, up to
    :data:`.costs.PRODUCT_PERM_QUBITS` qubits (:func:`product_state`).
    ``rest`` is the program after them (``k = 0``, ``rest = None`` when there are no such steps,
    or when the circuit prepares its state by amplitude encoding). Cached."""
    cache = _PROGRAMS.setdefault(circuit, {})
    if "prefix" not in cache:
        program = state_program(circuit)
        k = 0
        if circuit.state_prep != "amplitude":
            for kind, wires, payload in program.steps:
                if not (kind == "kron" or (kind == "u" and len(wires) == 1 and isinstance(payload, int))):
                    break
                k += 1
            if 0 < k < len(program.steps) and program.steps[k][0] == "perm" \
                    and len(program.steps[k][1]) == circuit.n_qubits <= PRODUCT_PERM_QUBITS:
                k += 1
        if program.repeat is not None:
            k = min(k, program.repeat[0])
        rest = None
        if k:
            repeat = program.repeat and (program.repeat[0] - k,) + tuple(program.repeat[1:])
            rest = replace(program, steps=program.steps[k:], repeat=repeat)
        cache["prefix"] = (k, rest)
    return cache["prefix"]


def product_state(n_qubits: int, steps, values, cdt):
    """The state ``steps`` (a :func:`product_prefix`, payloads with kron factors) prepare from
    ``|0...0>``, ``(2,) * n``.

    Each wire's vector ``v_w`` is its chains applied to ``|0>``; amplitude ``i`` is then
    ``prod_w v_w[b_w(i)]``, where ``b_w(i)`` is bit ``w`` of ``i``, or of ``perm[i]`` when a final
    "perm" step permutes the basis: one elementwise pass over constant bit tables, no gather
    (XLA fuses a product of factors followed by a gather into a scalar loop: 8 qubits, batch 64,
    about 120 us). The VJP undoes the permutation and contracts the cotangent with the other
    wires' vectors, halves first (a product's own VJP recomputes the partial products per wire)."""
    vectors = [jnp.asarray([1.0, 0.0], cdt)] * n_qubits
    perm = None
    for (kind, wires, payload), value in zip(steps, values):
        if kind == "perm":
            perm = np.asarray(payload[0])
            continue
        mats = value if kind == "kron" else value[None]
        for i, w in enumerate(wires):
            vectors[w] = jnp.sum(mats[i].astype(cdt) * vectors[w][None, :], axis=1)

    @jax.custom_vjp
    def product(*vectors):
        if perm is None:
            return _kron_vectors(list(vectors)).reshape((2,) * n_qubits)
        out = None
        for w, v in enumerate(vectors):
            bit = ((perm >> (n_qubits - 1 - w)) & 1).astype(bool)
            factor = jnp.where(bit, v[1], v[0])
            out = factor if out is None else out * factor
        return out.reshape((2,) * n_qubits)

    @exact_products
    def fwd(*vectors):
        return product(*vectors), vectors

    @exact_products
    def bwd(vectors, ct):
        ct = ct.reshape(-1)
        if perm is not None:
            ct = ct[np.argsort(perm)]
        return tuple(_kron_vectors_vjp(list(vectors), ct))

    product.defvjp(fwd, bwd)
    return product(*vectors)


def _kron_vectors(vectors):
    """The Kronecker product of vectors, pairwise (an outer product of two halves)."""
    while len(vectors) > 1:
        vectors = [(a[:, None] * b[None, :]).reshape(-1) for a, b in zip(vectors[::2], vectors[1::2])] \
            + ([vectors[-1]] if len(vectors) % 2 else [])
    return vectors[0]


def _kron_vectors_vjp(vectors, ct):
    """The cotangents of :func:`_kron_vectors`' factors, ``ct`` contracted with the other half."""
    if len(vectors) == 1:
        return [ct]
    h = len(vectors) // 2
    a, b = _kron_vectors(vectors[:h]), _kron_vectors(vectors[h:])
    m = ct.reshape(a.shape[0], b.shape[0])
    return _kron_vectors_vjp(vectors[:h], jnp.sum(m * b[None, :], axis=1)) \
        + _kron_vectors_vjp(vectors[h:], jnp.sum(m * a[:, None], axis=0))


def as_inputs(circuit: Circuit, theta, x):
    theta = jnp.asarray(theta)
    if jnp.iscomplexobj(theta):
        raise ValueError("theta must be real: trainable parameters are real (complex numbers live only "
                         "inside the simulator)")
    if not jnp.issubdtype(theta.dtype, jnp.floating):
        theta = theta.astype(jnp.result_type(float))
    if theta.shape != (circuit.n_params,):
        raise ValueError(f"theta must have shape ({circuit.n_params},); got {theta.shape}")
    if x is None:
        x = jnp.zeros((circuit.n_features,), theta.dtype)
    x = jnp.asarray(x)
    if jnp.iscomplexobj(x):
        raise ValueError("x must be real: features are real numbers")
    if x.shape != (circuit.n_features,):
        raise ValueError(f"x must have shape ({circuit.n_features},) for one example; got {x.shape}")
    return theta, x.astype(theta.dtype)


def initial_state(circuit: Circuit, x, cdt):
    n = circuit.n_qubits
    if circuit.state_prep == "amplitude":
        amp = jnp.zeros((2**n,), cdt).at[: x.shape[0]].set(x.astype(cdt))
        norm = jnp.sqrt(jnp.sum(jnp.abs(amp) ** 2))
        return (amp / norm).reshape((2,) * n)
    return jnp.zeros((2,) * n, cdt).at[(0,) * n].set(1.0)


def step_payloads(program: Program, angles, kraus=None, kron_factors: bool = False):
    """Per-step numeric payloads: a matrix for "u", an angle for "pauli", None otherwise
    (``kraus``: the drawn Kraus operators of a program lowered with ``kraus=True``). A "kron"
    step's payload is its ``(2**k, 2**k)`` matrix, or with ``kron_factors`` its ``(k, 2, 2)``
    single-wire factors (:func:`kernels.kron_wires` of them is the matrix)."""
    fused = program.fused_matrices(angles, kraus) if program.n_chains else []
    out = []
    for kind, _, payload in program.steps:
        if kind in ("u", "sop"):
            out.append(fused[payload] if isinstance(payload, int) else payload(angles))
        elif kind == "kron":
            factors = [fused[c] for c in payload]
            out.append(jnp.stack(factors) if kron_factors else K.kron_wires(factors))
        elif kind == "pauli":
            out.append(angles[payload[1]])
        else:
            out.append(None)
    return tuple(out)


def payloads(program: Program, theta, x, kraus=None, kron_factors: bool = False):
    """Step payloads for ``(theta, x)`` (and a trajectory's drawn Kraus operators ``kraus``, for a
    program lowered with ``kraus=True``); those that depend on neither ``x`` nor a drawn operator
    are computed from ``theta`` alone. Under ``vmap`` over examples they then stay unbatched: one
    matrix shared by the batch, so a gate is one matrix product over every example's state (and a
    tensor network contracts its θ-only part once per batch)."""
    values = step_payloads(program, program.angles(theta, x), kraus, kron_factors)
    own = [a or b for a, b in zip(program.feature_steps(), program.kraus_steps())]
    if all(own):
        return values
    placeholder = None if kraus is None else jnp.zeros((program.n_kraus, 2, 2), kraus.dtype)  # unused: own steps
    shared = step_payloads(program, program.angles(theta, jnp.zeros((program.n_features,), theta.dtype)), placeholder,
                           kron_factors)
    return tuple(v if d else s for v, s, d in zip(values, shared, own))


def apply_step_pure(psi, step, value, inverse=False):
    kind, wires, payload = step
    if kind in ("u", "kron"):
        m = jnp.conj(value).T if inverse else value
        return K.apply_matrix(psi, m.astype(psi.dtype), wires)
    if kind == "pauli":
        return K.apply_pauli_rotation(psi, -value if inverse else value, payload[0])
    if kind == "cnot":
        return K.apply_cnot(psi, *wires)
    if kind == "perm":
        return K.apply_permutation(psi, jnp.asarray(payload[1] if inverse else payload[0]))
    if kind == "cz":
        return K.apply_cz(psi, *wires)
    if kind == "swap":
        return K.apply_swap(psi, *wires)
    raise AssertionError(kind)


def apply_step_real(r, step, value, inverse=False):
    """One step on a state in the real layout (:func:`kernels.to_real`). Matrices on adjacent
    wires are real matrix products; permutations and signs act on the qubit axes alone; the
    rest (single-wire gates, Pauli rotations) runs the complex kernel, whose conversions XLA
    fuses into it."""
    kind, wires, payload = step
    if kind in ("u", "kron") and len(wires) > 1 and K.contiguous(wires):
        m = jnp.conj(value).T if inverse else value
        return K.apply_matrix_real(r, K.real_form(m.astype(complex_dtype(r.dtype))), wires)
    if kind in ("cnot", "cz", "swap"):
        return apply_step_pure(r, step, value, inverse)
    if kind == "perm":
        perm = jnp.asarray(payload[1] if inverse else payload[0])
        return K.apply_permutation(r, perm, tuple(range(r.ndim - 1)))  # the qubit axes; re/im stays
    return K.to_real(apply_step_pure(K.to_complex(r), step, value, inverse))


def split_steps(program: Program, values):
    """``(prefix, body, repeats, suffix)``: step ranges of the program, the body's values stacked.

    Each of prefix/suffix is a list of ``(step, value)``; body is ``(steps, stacked values)``
    with values stacked along a new leading axis of length ``repeats`` (``None`` stays None).
    """
    steps = program.steps
    if program.repeat is None:
        return list(zip(steps, values)), None, 0, []
    s, p, r = program.repeat
    body_steps = steps[s : s + p]
    stacked = tuple(
        None if values[s + j] is None else jnp.stack([values[s + k * p + j] for k in range(r)])
        for j in range(p)
    )
    end = s + p * r
    return list(zip(steps[:s], values[:s])), (body_steps, stacked), r, list(zip(steps[end:], values[end:]))


def run_steps(apply, state, prefix, body, suffix):
    for step, value in prefix:
        state = apply(state, step, value)
    if body is not None:
        body_steps, stacked = body

        def one_block(st, vals):
            for step, value in zip(body_steps, vals):
                st = apply(st, step, value)
            return st, None

        state, _ = jax.lax.scan(one_block, state, stacked)
    for step, value in suffix:
        state = apply(state, step, value)
    return state


def run_pure(program: Program, values, psi):
    prefix, body, _, suffix = split_steps(program, values)
    return run_steps(apply_step_pure, psi, prefix, body, suffix)


def run_mixed(program: Program, values, rho):
    prefix, body, _, suffix = split_steps(program, values)
    return run_steps(partial(apply_step_mixed, program.n_qubits), rho, prefix, body, suffix)


def apply_step_mixed(n, rho, step, value):
    """One density-matrix step: unitaries act on rows and (conjugated) columns."""
    kind, wires, payload = step
    cols = tuple(w + n for w in wires)
    if kind == "u":
        m = value.astype(rho.dtype)
        rho = K.apply_matrix(K.apply_matrix(rho, m, wires), jnp.conj(m), cols)
    elif kind == "sop":
        rho = K.apply_matrix(rho, value.astype(rho.dtype), (wires[0], cols[0]))
    elif kind == "cnot":
        rho = K.apply_cnot(K.apply_cnot(rho, *wires), *cols)
    elif kind == "perm":
        perm = jnp.asarray(payload[0])
        rho = K.apply_permutation(K.apply_permutation(rho, perm, tuple(range(n))), perm, tuple(range(n, 2 * n)))
    elif kind == "cz":
        rho = K.apply_cz(K.apply_cz(rho, *wires), *cols)
    elif kind == "swap":
        rho = K.apply_swap(K.apply_swap(rho, *wires), *cols)
    else:  # pragma: no cover - lower(mixed=True) emits no other kinds
        raise AssertionError(kind)
    return rho


def term_table(circuit: Circuit):
    """Flattened observable terms: ``(observable index, coefficient, readout factor, PauliString)``.

    Independent measurement bit flips with probabilities ``p_w`` scale ``<P>`` by
    ``prod_w (1 - 2 p_w)`` over the wires of ``P`` (the readout factor).
    """
    ro = circuit.readout_errors
    table = []
    for k, obs in enumerate(circuit.observables):
        for c, p in obs.terms:
            factor = float(np.prod([1.0 - 2.0 * ro.get(w, 0.0) for w in p.wires]))
            table.append((k, c, factor, p))
    return table


def term_values_pure(circuit: Circuit, psi):
    """Exact ``<psi|P_t|psi>`` for every Pauli term (without coefficients)."""
    probs = None
    vals = []
    for *_, p in term_table(circuit):
        if p.is_diagonal:
            if probs is None:
                probs = jnp.real(psi * jnp.conj(psi))
            vals.append(jnp.sum(probs * K.z_signs(p.wires, psi.ndim, probs.dtype)))
        else:
            vals.append(jnp.real(jnp.vdot(psi, K.apply_pauli_string(psi, p.factors))))
    return jnp.stack(vals) if vals else jnp.zeros((0,), jnp.real(psi).dtype)


def term_values_mixed(circuit: Circuit, rho):
    n = circuit.n_qubits
    dim = 2**n
    diag = None
    vals = []
    for *_, p in term_table(circuit):
        if p.is_diagonal:
            if diag is None:
                diag = jnp.real(jnp.diagonal(rho.reshape(dim, dim))).reshape((2,) * n)
            vals.append(jnp.sum(diag * K.z_signs(p.wires, n, diag.dtype)))
        else:
            prho = K.apply_pauli_string(rho, p.factors)
            vals.append(jnp.real(jnp.trace(prho.reshape(dim, dim))))
    return jnp.stack(vals) if vals else jnp.zeros((0,), jnp.real(rho).dtype)


def combine(circuit: Circuit, term_values, *, readout: bool = True):
    """``<O_k> = sum_t c_t f_t <P_t>`` (``f_t`` the readout factor unless ``readout=False``)."""
    table = term_table(circuit)
    if not table:  # every observable cancelled to zero terms
        return jnp.zeros((len(circuit.observables),), term_values.dtype)
    idx = np.asarray([k for k, *_ in table], np.int32)
    coef = jnp.asarray([c * (f if readout else 1.0) for _, c, f, _ in table], term_values.dtype)
    return jax.ops.segment_sum(coef * term_values, idx, num_segments=len(circuit.observables))


def split_encoding(circuit: Circuit):
    """``(encoding, trainable)`` circuits if ``circuit`` = (θ-free ops) then (x-free ops), else ``None``.

    The encoding part is every operation up to the first one whose angle uses θ (readout
    errors are left out of both: they act at measurement). The rest must use no feature.
    """
    if circuit in _SPLITS:
        return _SPLITS[circuit]
    ops = [op for op in circuit.operations if not op.is_readout]
    cut = next((i for i, op in enumerate(ops) if any(a.weights for a in op.angles)), len(ops))
    rest = ops[cut:]
    result = None
    if not any(a.feature is not None for op in rest for a in op.angles):
        result = (circuit.with_operations(ops[:cut]), circuit.with_operations(rest))
    _SPLITS[circuit] = result
    return result
