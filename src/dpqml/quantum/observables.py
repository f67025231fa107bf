"""Observables: Pauli strings and real-weighted sums of them.

An :class:`Observable` is a tuple of ``(coefficient, PauliString)`` terms with real
coefficients, so it is Hermitian by construction. Build one with :func:`pauli`, the
shortcuts :func:`X`, :func:`Y`, :func:`Z`, arithmetic (``0.5 * Z(0) @ Z(1) + X(2)``), or
:meth:`Observable.from_matrix`, which checks hermiticity and decomposes a matrix in the
Pauli basis.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from numbers import Real

import numpy as np

from .gates import PAULI_MATRICES, pauli_word_matrix


@dataclass(frozen=True)
class PauliString:
    """A tensor product of single-qubit Paulis, identity elsewhere.

    ``factors`` is a tuple of ``(wire, letter)`` pairs sorted by wire, ``letter`` in ``XYZ``.
    The empty string is the identity.
    """

    factors: tuple[tuple[int, str], ...] = ()

    @property
    def wires(self) -> tuple[int, ...]:
        return tuple(w for w, _ in self.factors)

    @property
    def word(self) -> str:
        return "".join(p for _, p in self.factors)

    @property
    def is_diagonal(self) -> bool:
        """True when the string has only Z factors (measured in the computational basis)."""
        return all(p == "Z" for _, p in self.factors)

    def __str__(self) -> str:
        return "I" if not self.factors else " ".join(f"{p}{w}" for w, p in self.factors)


@dataclass(frozen=True)
class Observable:
    """A real-weighted sum of Pauli strings, ``sum_t c_t P_t``."""

    terms: tuple[tuple[float, PauliString], ...]

    def __post_init__(self):
        for c, _ in self.terms:
            if not isinstance(c, Real) or isinstance(c, bool):
                raise ValueError(
                    f"observable coefficients must be real numbers (a Hermitian observable); got {c!r}"
                )
            if not np.isfinite(c):
                raise ValueError(f"observable coefficients must be finite; got {c!r}")

    # -- arithmetic -----------------------------------------------------------------
    def __add__(self, other: Observable) -> Observable:
        if not isinstance(other, Observable):
            return NotImplemented
        return Observable(self.terms + other.terms).simplify()

    def __radd__(self, other) -> Observable:
        if isinstance(other, (int, float)) and not isinstance(other, bool) and other == 0:
            return self  # sum() starts from 0
        if isinstance(other, Observable):
            return other + self
        return NotImplemented

    def __mul__(self, scalar) -> Observable:
        if isinstance(scalar, complex) and scalar.imag == 0:
            scalar = scalar.real
        if not isinstance(scalar, Real) and np.ndim(scalar) == 0 and np.isrealobj(scalar):
            try:  # NumPy / JAX real scalars
                scalar = float(scalar)
            except (TypeError, ValueError):
                pass
        if not isinstance(scalar, Real):
            raise ValueError(
                f"observables can only be scaled by real numbers (to stay Hermitian); got {scalar!r}"
            )
        return Observable(tuple((float(scalar) * c, p) for c, p in self.terms))

    __rmul__ = __mul__

    def __sub__(self, other: Observable) -> Observable:
        return self + (-1.0) * other

    def __matmul__(self, other: Observable) -> Observable:
        """Tensor product of two single-term observables on disjoint wires."""
        if len(self.terms) != 1 or len(other.terms) != 1:
            raise ValueError("'@' joins single Pauli strings; expand sums first")
        (c1, p1), (c2, p2) = self.terms[0], other.terms[0]
        if set(p1.wires) & set(p2.wires):
            raise ValueError(f"'@' needs disjoint wires; {p1} and {p2} share some")
        factors = tuple(sorted(p1.factors + p2.factors))
        return Observable(((c1 * c2, PauliString(factors)),))

    def simplify(self) -> Observable:
        """Merge equal Pauli strings and drop zero coefficients."""
        acc: dict[PauliString, float] = {}
        for c, p in self.terms:
            acc[p] = acc.get(p, 0.0) + c
        return Observable(tuple((c, p) for p, c in acc.items() if c != 0.0))

    # -- inspection -----------------------------------------------------------------
    @property
    def wires(self) -> tuple[int, ...]:
        return tuple(sorted({w for _, p in self.terms for w in p.wires}))

    def matrix(self, n_qubits: int) -> np.ndarray:
        """Dense ``(2**n, 2**n)`` matrix (for tests and small analyses)."""
        dim = 2**n_qubits
        out = np.zeros((dim, dim), dtype=np.complex128)
        for c, p in self.terms:
            letters = ["I"] * n_qubits
            for w, letter in p.factors:
                letters[w] = letter
            out += c * pauli_word_matrix("".join(letters))
        return out

    def norm_bound(self) -> float:
        """``sum |c_t|``, an upper bound on the operator norm ``||O||``."""
        return float(sum(abs(c) for c, _ in self.terms))

    def __str__(self) -> str:
        if not self.terms:
            return "0"
        return " + ".join(f"{c:g}*{p}" for c, p in self.terms)

    @classmethod
    def from_matrix(cls, matrix, wires) -> Observable:
        """Decompose a Hermitian matrix on ``wires`` into Pauli strings.

        Raises ``ValueError`` when the matrix is not square of size ``2**len(wires)`` or not
        Hermitian (``||M - M^H|| > 1e-10``).
        """
        from .circuit import as_wires

        m = np.asarray(matrix, dtype=np.complex128)
        wires = as_wires(tuple(wires), "observable wires")
        k = len(wires)
        if len(set(wires)) != k:
            raise ValueError(f"observable wires must be distinct; got {wires}")
        if m.shape != (2**k, 2**k):
            raise ValueError(
                f"observable matrix must have shape {(2**k, 2**k)} for {k} wires; got {m.shape}"
            )
        if np.abs(m - m.conj().T).max() > 1e-10:
            raise ValueError("observable matrix is not Hermitian (M != M^dagger); "
                             "an observable must be a Hermitian matrix")
        terms = []
        for letters in itertools.product("IXYZ", repeat=k):
            coeff = np.trace(pauli_word_matrix("".join(letters)) @ m).real / 2**k
            if abs(coeff) > 1e-12:
                factors = tuple(sorted((w, p) for w, p in zip(wires, letters) if p != "I"))
                terms.append((float(coeff), PauliString(factors)))
        return cls(tuple(terms)).simplify()


def pauli(word: str, wires) -> Observable:
    """The Pauli string ``word`` (letters ``IXYZ``) on ``wires``, e.g. ``pauli("ZZ", (0, 1))``."""
    from .circuit import as_wires

    wires = as_wires(tuple(wires), "Pauli string wires")
    if len(word) != len(wires):
        raise ValueError(f"Pauli word {word!r} has {len(word)} letters but {len(wires)} wires were given")
    if len(set(wires)) != len(wires):
        raise ValueError(f"Pauli string wires must be distinct; got {wires}")
    bad = set(word) - set("IXYZ")
    if bad:
        raise ValueError(f"Pauli word letters must be in 'IXYZ'; got {sorted(bad)}")
    factors = tuple(sorted((w, p) for w, p in zip(wires, word) if p != "I"))
    return Observable(((1.0, PauliString(factors)),))


def X(wire: int) -> Observable:  # noqa: N802 (physics notation)
    return pauli("X", (wire,))


def Y(wire: int) -> Observable:  # noqa: N802
    return pauli("Y", (wire,))


def Z(wire: int) -> Observable:  # noqa: N802
    return pauli("Z", (wire,))


def identity() -> Observable:
    return Observable(((1.0, PauliString()),))


__all__ = ["PAULI_MATRICES", "Observable", "PauliString", "X", "Y", "Z", "identity", "pauli"]
