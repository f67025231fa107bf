"""Expectation values by tensor-network contraction: the fast method for shallow circuits.

For a noiseless circuit started in ``|0...0>``, ``<P> = <0| U† P U |0>`` is a network of small
tensors: one 2-vector per wire for the initial state (or, where a wire starts with single-qubit
gates, the first column of their fused 2x2 matrix), one ``(2,)*2k`` tensor per ``k``-qubit gate,
the same gates conjugated for the bra, and one Pauli matrix per factor of ``P`` (wires without a
factor join their ket and bra indices). Two reductions make it small:

* **light cone**: walking the circuit backwards from ``P``, a gate that touches none of the wires
  the observable has reached so far commutes past it and cancels against its own conjugate
  (``G† G = 1``), so it is left out;
* **contraction order**: :func:`opt_einsum.contract_path` (greedy) finds a pairwise order once per
  circuit and term; its flop count is the cost the automatic method choice compares with a
  state-vector simulation.

For a shallow circuit the cost grows with the *depth* and the width of the light cone, not with
``2**n``: at ``L = 2`` layers of ``hea`` on 12 qubits, one example is about 6·10⁴ flops against
about 2·10⁵ amplitude updates (times 2-3 passes) for the state vector. Deep circuits go the other
way (the network's intermediates grow as ``2**(depth)``), which is why ``method="auto"`` picks by
cost (:func:`seconds` against :func:`.adjoint.seconds`, :func:`.methods.auto_method`).

Gradients are ordinary reverse-mode AD through the contraction (every intermediate is small), and
``jax.vmap`` over examples leaves the tensors that depend on ``theta`` alone unbatched, so the
parts of the network without data are contracted once per batch.

The method's interface (:mod:`.methods`): :func:`needs`, :func:`expectations`,
:func:`seconds`, :func:`auto_seconds`, :func:`memory_bytes`, :func:`holds`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from weakref import WeakKeyDictionary

import jax.numpy as jnp
import numpy as np
import opt_einsum

from . import core
from . import gates as G
from .circuit import Circuit
from .costs import TN_SECONDS_PER_FLOP, TN_SECONDS_PER_TENSOR
from .gates import complex_dtype
from .observables import PauliString
from .program import Program, lower

#: Networks with more tensors than this are not built (path search time grows with the size, and
#: such circuits are deep enough for the state vector to win).
MAX_TENSORS = 3000

_CONST = {}
_cnot = np.zeros((2, 2, 2, 2))
for _c, _t in itertools.product((0, 1), repeat=2):
    _cnot[_c, _t ^ _c, _c, _t] = 1.0  # (control out, target out, control in, target in)
_CONST["cnot"] = _cnot
_cz = np.zeros((2, 2, 2, 2))
for _a, _b in itertools.product((0, 1), repeat=2):
    _cz[_a, _b, _a, _b] = -1.0 if (_a and _b) else 1.0
_CONST["cz"] = _cz


@dataclass(frozen=True, eq=False)
class TermNetwork:
    """The network of ``<P>`` for one Pauli string: an einsum equation, its operands and path."""

    equation: str
    operands: tuple  # ("zero",) | ("col0", step, conj) | ("gate", step, conj) | ("const", kind) | ("obs", letter)
    path: tuple  # pairwise contraction order (opt_einsum format)
    flops: float
    largest: int  # elements of the largest intermediate
    kept_steps: int  # steps inside the light cone


@dataclass(frozen=True, eq=False)
class Network:
    program: Program  # lowered without permutation merging
    terms: tuple  # one TermNetwork per Pauli term (None: the identity, <I> = 1)

    @property
    def flops(self) -> float:
        return float(sum(t.flops for t in self.terms if t is not None))

    @property
    def n_tensors(self) -> int:
        return sum(len(t.operands) for t in self.terms if t is not None)

    @property
    def largest(self) -> int:
        return max([t.largest for t in self.terms if t is not None] or [1])


def _acts_on(step) -> tuple[int, ...]:
    kind, wires, payload = step
    if kind == "pauli":
        return tuple(w for w, _ in payload[0])
    return tuple(wires)


def _term_network(program: Program, pauli: PauliString) -> TermNetwork | None:
    steps = program.steps
    live = set(pauli.wires)
    if not live:
        return None
    keep = [False] * len(steps)
    for i in range(len(steps) - 1, -1, -1):  # backward light cone of P
        acts = _acts_on(steps[i])
        if live.intersection(acts):
            keep[i] = True
            live.update(acts)

    counter = itertools.count()

    def sym() -> str:
        return opt_einsum.get_symbol(next(counter))

    ket: dict[int, str | None] = dict.fromkeys(live)  # None: the wire is still in |0>, not yet placed
    bra: dict[int, str | None] = dict.fromkeys(live)
    subs: list[str] = []
    operands: list[tuple] = []

    def place(spec_ket, spec_bra, sub_ket, sub_bra):
        operands.extend((spec_ket, spec_bra))
        subs.extend((sub_ket, sub_bra))

    def ensure(w):
        if ket[w] is None:
            ket[w], bra[w] = sym(), sym()
            place(("zero",), ("zero",), ket[w], bra[w])

    for i, step in enumerate(steps):
        if not keep[i]:
            continue
        kind, wires, _ = step
        if kind == "swap":
            a, b = wires
            ket[a], ket[b] = ket[b], ket[a]
            bra[a], bra[b] = bra[b], bra[a]
            continue
        acts = _acts_on(step)
        if kind == "u" and len(acts) == 1 and ket[acts[0]] is None:  # first gate on a fresh wire: U|0>
            w = acts[0]
            ket[w], bra[w] = sym(), sym()
            place(("col0", i, False), ("col0", i, True), ket[w], bra[w])
            continue
        for w in acts:
            ensure(w)
        new_ket = [sym() for _ in acts]
        new_bra = [sym() for _ in acts]
        if kind in _CONST:
            spec_k = spec_b = ("const", kind)
        else:
            spec_k, spec_b = ("gate", i, False), ("gate", i, True)
        place(spec_k, spec_b, "".join(new_ket) + "".join(ket[w] for w in acts),
              "".join(new_bra) + "".join(bra[w] for w in acts))
        for w, k, b in zip(acts, new_ket, new_bra):
            ket[w], bra[w] = k, b

    rename: dict[str, str] = {}
    letters = dict(pauli.factors)
    for w in sorted(live):
        if w in letters:
            ensure(w)
            operands.append(("obs", letters[w]))
            subs.append(bra[w] + ket[w])  # P[bra, ket]
        elif ket[w] is not None:
            rename[bra[w]] = ket[w]  # identity: <psi| and |psi> share the index
    subs = ["".join(rename.get(c, c) for c in s) for s in subs]
    equation = ",".join(subs) + "->"
    shapes = [(2,) * len(s) for s in subs]
    path, info = opt_einsum.contract_path(equation, *shapes, shapes=True, optimize="greedy")
    return TermNetwork(equation, tuple(operands), tuple(path), float(info.opt_cost),
                       int(info.largest_intermediate), sum(keep))


def build_network(program: Program, paulis) -> Network | None:
    """The networks of every Pauli term in ``paulis`` over ``program`` (lowered with
    ``permutations=False``), or None when the network would exceed :data:`MAX_TENSORS`."""
    kept_bound = 2 * len(program.steps) + 3 * program.n_qubits
    if kept_bound * max(1, len(paulis)) > MAX_TENSORS:
        return None
    return Network(program, tuple(_term_network(program, p) for p in paulis))


def _operand(spec, program: Program, values, cdt):
    tag = spec[0]
    if tag == "zero":
        return jnp.asarray([1.0, 0.0], cdt)
    if tag == "obs":
        return jnp.asarray(G.PAULI_MATRICES[spec[1]], cdt)
    if tag == "const":
        return jnp.asarray(_CONST[spec[1]], cdt)
    _, i, conj = spec
    kind, wires, payload = program.steps[i]
    if kind == "pauli":  # exp(-i a P / 2) on the wires where P is not the identity
        factors = payload[0]
        m = G.pauli_rotation("".join(letter for _, letter in factors), values[i]).astype(cdt)
        k = len(factors)
    else:
        m = values[i].astype(cdt)
        k = len(wires)
    if conj:
        m = jnp.conj(m)
    if tag == "col0":
        return m[:, 0]
    return m.reshape((2,) * (2 * k))


def term_values(network: Network, values, cdt):
    """``<P_t>`` for every term of ``network``, given the program's step values for one example."""
    out = []
    for term in network.terms:
        if term is None:
            out.append(jnp.ones((), jnp.finfo(cdt).dtype))  # the real dtype of cdt
            continue
        ops = [_operand(spec, network.program, values, cdt) for spec in term.operands]
        out.append(jnp.real(jnp.einsum(term.equation, *ops, optimize=list(term.path))))
    return jnp.stack(out)



# ---------------------------------------------------------------------------------------
# the method's interface
_NETWORKS: WeakKeyDictionary = WeakKeyDictionary()


def network_for(circuit: Circuit) -> Network | None:
    """The tensor networks of ``circuit``'s Pauli terms (cached), or None when the circuit is
    noisy, starts from an amplitude encoding, or is too large for a network."""
    if circuit not in _NETWORKS:
        net = None
        if not circuit.is_noisy and circuit.state_prep == "zero":
            program = lower(circuit, mixed=False, scan=False, permutations=False)
            net = build_network(program, [p for *_, p in core.term_table(circuit)])
        _NETWORKS[circuit] = net
    return _NETWORKS[circuit]


def needs(circuit: Circuit) -> str | None:
    if network_for(circuit) is not None:
        return None
    if circuit.is_noisy:
        return "a noiseless circuit"
    if circuit.state_prep != "zero":
        return "a circuit started in |0...0> (no amplitude encoding)"
    return f"at most {MAX_TENSORS} tensors"


def holds(circuit: Circuit) -> str:
    return "tensor-network"


def seconds(circuit: Circuit) -> float | None:
    """Estimated seconds per example of a per-example gradient (:mod:`.costs`); None without a network."""
    net = network_for(circuit)
    return None if net is None else net.n_tensors * TN_SECONDS_PER_TENSOR + net.flops * TN_SECONDS_PER_FLOP


def auto_seconds(circuit: Circuit) -> float | None:
    return seconds(circuit)


def memory_bytes(circuit: Circuit, batch: int, itemsize: int, gradients: bool) -> int:
    """At most (tensors x largest intermediate) numbers per example, twice while differentiating."""
    net = network_for(circuit)
    return int(itemsize * net.n_tensors * net.largest * (2 if gradients else 1) * batch)


def expectations(circuit: Circuit, theta, x):
    """``<O_k>`` for one validated example."""
    net = network_for(circuit)
    values = core.payloads(net.program, theta, x)
    return core.combine(circuit, term_values(net, values, complex_dtype(theta.dtype))).astype(theta.dtype)
