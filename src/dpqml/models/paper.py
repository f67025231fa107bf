"""The paper's three tabular models: a variational quantum classifier, a tanh MLP and a
Lipschitz network, each with 128-odd parameters on 16 features and 4 classes.

They follow ``tabular/heatmap.ipynb`` of ``tigran-sedrakyan/private-qml`` (``QuantumNet``,
``ClassicalNet``, ``LipschitzNet``). :func:`build_paper_model` builds one by family name
(:data:`PAPER_FAMILIES`).

Quantum model (:class:`PaperQuantumModel`), ``n = n_qubits`` (4), ``L = n_layers``, for one
example ``x`` of ``n_features <= 2**n`` features (16):

1. amplitude encoding: the state ``|v>`` with ``v = x / ‖x‖₂`` zero-padded to ``D = 2**n``
   amplitudes (PennyLane's ``AmplitudeEmbedding(normalize=True, pad_with=0)``; wire 0 is the
   most significant bit of a basis index, as in PennyLane);
2. for each layer ``l = 0 .. L-1``:

   * on every qubit ``i = 0 .. n-1``: ``RZ(θ[3m])``, then ``RY(θ[3m+1])``, then ``RZ(θ[3m+2])``
     with ``m = i·L + l`` (qubit-major indexing, as the notebook writes it), i.e. the
     single-qubit unitary ``RZ(θ[3m+2]) RY(θ[3m+1]) RZ(θ[3m])`` = PennyLane's
     ``Rot(θ[3m], θ[3m+1], θ[3m+2])``;
   * ``CNOT(i, (i+1) mod n)`` for ``i = 0, 1, .., n-1``, in that order (a ring);

3. readout: ``<Z_k>`` on qubit ``k`` for ``k = 0 .. n_classes-1``, used directly as the
   logits (no trainable head; a softmax over values in ``[-1, 1]``); loss: cross-entropy.

``params = {"theta": (3·n·L,)}``, initialised uniform in ``[0, 2π)`` (PennyLane's
``TorchLayer`` default). ``layers="auto"`` is the notebook's rule
``L = ceil(P_classical / (3n))`` with ``P_classical = 128`` (the MLP's count): ``L = 11``, 132
parameters (:func:`paper_layer_count`).

Closed form. The circuit is a fixed unitary ``U(θ)`` applied to the real vector ``v``, so
``<Z_k> = v† U† Z_k U v = vᵀ M_k v`` with the real symmetric ``M_k = Re(U† Z_k U)`` (the
imaginary part of the Hermitian ``U† Z_k U`` is antisymmetric and drops out of a real quadratic
form). :meth:`~PaperQuantumModel.observable_matrices` builds ``U`` as a ``D × D`` matrix layer
by layer (one Kronecker product of ``n`` rotations, then the CNOT ring as a row permutation) and
returns ``M`` ``(n_classes, D, D)``; a forward pass is then one quadratic form per class, and a
batch shares ``M`` (:meth:`~PaperQuantumModel.apply_batch`). For DP-SGD,
:meth:`~PaperQuantumModel.per_example_grads` differentiates ``M`` once per batch (forward-mode
Jacobian ``(K, D, D, P)``) and contracts it with each example's ``g_k v vᵀ``, ``g = ∂loss/∂logits``.

Classical model (:func:`paper_mlp`): :class:`~dpqml.models.MLP` 16-4-4-4-4 with ``tanh`` after
each hidden layer and a linear output, 68 + 20 + 20 + 20 = 128 parameters, initialised like
PyTorch's ``nn.Linear`` (``init_scheme="torch-default"``).

Lipschitz model: :class:`~dpqml.models.lipschitz.LipschitzMLP` (see :mod:`dpqml.models.lipschitz`).
"""

from __future__ import annotations

import functools
import math
import numbers
from dataclasses import dataclass, field
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from ..quantum import Angle, Circuit, Operation
from ..quantum.gates import complex_dtype, rot
from .classical import MLP, _check_int
from .lipschitz import LipschitzMLP
from .readouts import readout
from .task import Classifier, per_example_loss

#: The notebook's classical count: the 16-4-4-4-4 MLP has 128 parameters.
PAPER_CLASSICAL_PARAMS = 128
PAPER_N_FEATURES = 16
PAPER_N_CLASSES = 4
PAPER_HIDDEN = (4, 4, 4)


def paper_layer_count(p_classical: int = PAPER_CLASSICAL_PARAMS, n_qubits: int = 4) -> int:
    """The notebook's ``layers="auto"``: ``ceil(p_classical / (3 · n_qubits))`` layers, the
    fewest with at least as many angles (3 per qubit per layer) as the classical model has
    parameters. ``paper_layer_count(128, 4) == 11`` (132 angles)."""
    p_classical = _check_int("p_classical", p_classical, 1)
    n_qubits = _check_int("n_qubits", n_qubits, 1)
    return math.ceil(p_classical / (3 * n_qubits))


@functools.cache
def _cnot_ring_permutation(n: int) -> np.ndarray:
    """Row permutation ``p`` with ``(C U)[r] = U[p[r]]`` for ``C = CNOT(n-1, 0) ··· CNOT(0, 1)``
    (the ring applied in order ``i = 0 .. n-1``); wire 0 is the most significant bit."""
    idx = np.arange(2**n)
    perm = idx.copy()
    for i in range(n):
        control, target = n - 1 - i, n - 1 - (i + 1) % n  # bit positions
        flip = idx ^ (((idx >> control) & 1) << target)  # CNOT maps basis state r to flip[r]
        perm = perm[flip]
    return perm


@functools.cache
def _z_signs(n: int, n_obs: int) -> np.ndarray:
    """``(n_obs, 2**n)``: the diagonal of ``Z_k`` (``+1`` where qubit ``k`` is 0, ``-1`` where 1)."""
    idx = np.arange(2**n)
    return np.stack([1.0 - 2.0 * ((idx >> (n - 1 - k)) & 1) for k in range(n_obs)])


def _unit_amplitudes(x, dim: int):
    """``x / ‖x‖₂`` zero-padded to ``dim``; the zero vector stays zero (NaN-free gradient)."""
    x = jnp.pad(x, [(0, 0)] * (x.ndim - 1) + [(0, dim - x.shape[-1])])
    sq = jnp.sum(x * x, axis=-1, keepdims=True)
    return x * jax.lax.rsqrt(jnp.where(sq > 0, sq, 1.0))


@dataclass(frozen=True, eq=False)
class PaperQuantumModel(Classifier):
    """The paper's variational quantum classifier (see the module docstring for the circuit).

    Args:
        n_qubits: qubits ``n`` (4).
        n_features: features per example, ``<= 2**n_qubits`` (16); fewer are zero-padded.
        n_classes: classes ``K``, ``3 <= K <= n_qubits`` (4); logit ``k`` is ``<Z_k>``.
        layers: ``"auto"`` (:func:`paper_layer_count` of ``p_classical``) or an integer ``>= 1``.
        p_classical: the parameter count ``layers="auto"`` matches (128).
    """

    n_qubits: int = 4
    n_features: int = PAPER_N_FEATURES
    n_classes: int = PAPER_N_CLASSES
    layers: int | str = "auto"
    p_classical: int = PAPER_CLASSICAL_PARAMS
    meta: dict = field(default_factory=dict)
    n_layers: int = field(init=False)
    input_dim: int = field(init=False)
    family: ClassVar[str] = "quantum"
    name: ClassVar[str] = "paper-quantum"

    def __post_init__(self):
        n = _check_int("n_qubits", self.n_qubits, 1)
        object.__setattr__(self, "n_qubits", n)
        f = _check_int("n_features", self.n_features, 1)
        if f > 2**n:
            raise ValueError(f"amplitude encoding holds at most 2**n_qubits={2**n} features; got n_features={f}")
        object.__setattr__(self, "n_features", f)
        object.__setattr__(self, "input_dim", f)
        k = _check_int("n_classes", self.n_classes, 3)
        if k > n:
            raise ValueError(f"n_classes={k} logits <Z_0..Z_{k - 1}> need n_qubits >= {k}; got n_qubits={n}")
        object.__setattr__(self, "n_classes", k)
        object.__setattr__(self, "p_classical", _check_int("p_classical", self.p_classical, 1))
        if self.layers == "auto":
            n_layers = paper_layer_count(self.p_classical, n)
        elif isinstance(self.layers, numbers.Integral) and not isinstance(self.layers, bool) and self.layers >= 1:
            n_layers = int(self.layers)
        else:
            raise ValueError(f"layers must be 'auto' or an integer >= 1; got {self.layers!r}")
        object.__setattr__(self, "n_layers", n_layers)

    @property
    def n_theta(self) -> int:
        """Circuit angles: ``3 · n_qubits · n_layers``."""
        return 3 * self.n_qubits * self.n_layers

    def param_count(self) -> int:
        return self.n_theta

    def init(self, key, dtype=jnp.float32) -> dict:
        """Angles uniform in ``[0, 2π)`` (PennyLane ``TorchLayer``'s default)."""
        return {"theta": jax.random.uniform(key, (self.n_theta,), dtype, 0.0, 2 * np.pi)}

    # -- the circuit as data ------------------------------------------------------------
    def circuit(self) -> Circuit:
        """The same circuit as a :class:`~dpqml.quantum.Circuit` (amplitude state preparation,
        ``RZ RY RZ`` per qubit, CNOT ring, ``<Z_k>``), for printing, counting and the generic
        simulator. The closed form below is what :meth:`apply` runs."""
        n, L, ops = self.n_qubits, self.n_layers, []
        for layer in range(L):
            for i in range(n):
                m = 3 * (i * L + layer)
                ops += [Operation("RZ", (i,), (Angle(weight=m),)), Operation("RY", (i,), (Angle(weight=m + 1),)),
                        Operation("RZ", (i,), (Angle(weight=m + 2),))]
            ops += [Operation("CNOT", (i, (i + 1) % n)) for i in range(n)]
        return Circuit(n, ops, readout("z", n, self.n_classes), n_params=self.n_theta,
                       n_features=self.n_features, state_prep="amplitude", meta={"model": self.name})

    # -- closed form ----------------------------------------------------------------------
    def unitary(self, params):
        """The circuit's unitary ``U(θ)``, ``(D, D)`` complex, ``D = 2**n_qubits``."""
        theta = jnp.asarray(params["theta"])
        n, L = self.n_qubits, self.n_layers
        angles = theta.reshape(n, L, 3)  # angles[i, l] = θ[3(i·L + l) : 3(i·L + l) + 3]
        perm = _cnot_ring_permutation(n)
        u = jnp.eye(2**n, dtype=complex_dtype(theta.dtype))
        for layer in range(L):
            rots = jax.vmap(lambda a: rot(a[0], a[1], a[2]))(angles[:, layer])  # (n, 2, 2)
            layer_u = functools.reduce(jnp.kron, list(rots))  # wire 0 = most significant factor
            u = layer_u[perm] @ u  # the CNOT ring permutes the rows of the layer's rotations
        return u

    def observable_matrices(self, params):
        """``M_k = Re(U(θ)† Z_k U(θ))`` for ``k < n_classes``: real symmetric, ``(K, D, D)``,
        with ``<Z_k> = vᵀ M_k v`` for the encoded state ``v``."""
        u = self.unitary(params)
        z = jnp.asarray(_z_signs(self.n_qubits, self.n_classes), u.real.dtype)
        return jnp.einsum("ai,ka,aj->kij", u.conj(), z, u).real

    def _check_example(self, x):
        if jnp.shape(x) != (self.n_features,):
            raise ValueError(f"apply takes ONE example of shape ({self.n_features},); got shape {jnp.shape(x)} "
                             "(use apply_batch for a batch)")

    def apply(self, params, x):
        """Logits ``(K,)`` = ``(<Z_0>, .., <Z_{K-1}>)`` of one example ``x`` ``(n_features,)``.
        A zero ``x`` (no state to encode) gives zero logits."""
        self._check_example(x)
        v = _unit_amplitudes(jnp.asarray(x), 2**self.n_qubits)
        return jnp.einsum("kij,i,j->k", self.observable_matrices(params), v, v)

    def apply_batch(self, params, xs):
        """Logits ``(B, K)`` of a batch ``xs`` ``(B, n_features)``, with ``M`` built once."""
        xs = jnp.asarray(xs)
        if xs.ndim != 2 or xs.shape[1] != self.n_features:
            raise ValueError(f"apply_batch takes shape (batch, {self.n_features}); got {xs.shape}")
        v = _unit_amplitudes(xs, 2**self.n_qubits)
        return jnp.einsum("kij,bi,bj->bk", self.observable_matrices(params), v, v)

    def per_example_grads(self, params, xs, ys, loss: str | None = None):
        """Per-example losses ``(B,)`` and gradients ``{"theta": (B, P)}`` (the engine's
        :func:`~dpqml.engine.per_example_grads` convention), exact, from one Jacobian of ``M``.

        ``∂loss_b/∂θ_p = Σ_k g_bk v_bᵀ (∂M_k/∂θ_p) v_b`` with ``g_b = ∂loss_b/∂logits_b``; the
        Jacobian ``∂M/∂θ`` ``(K, D, D, P)`` does not depend on the example, so it is computed
        once (forward mode: ``P`` tangents) instead of once per example.
        """
        loss = loss or self.default_loss
        xs = jnp.asarray(xs)
        v = _unit_amplitudes(xs, 2**self.n_qubits)
        theta = jnp.asarray(params["theta"])
        m = self.observable_matrices(params)
        jac = jax.jacfwd(lambda t: self.observable_matrices({"theta": t}))(theta)  # (K, D, D, P)
        logits = jnp.einsum("kij,bi,bj->bk", m, v, v)

        def loss_of(out, y):
            return per_example_loss(out, y, loss, self.task)

        losses, g = jax.vmap(jax.value_and_grad(loss_of))(logits, jnp.asarray(ys))
        weights = jnp.einsum("bk,bi,bj->bkij", g, v, v).reshape(xs.shape[0], -1)
        return losses, {"theta": weights @ jac.reshape(-1, theta.shape[0])}

    def describe(self) -> dict:
        """A JSON-friendly summary: name, family, sizes, circuit and parameter count."""
        return {
            "name": self.name,
            "family": self.family,
            "task": self.task,
            "input_dim": self.n_features,
            "n_classes": self.n_classes,
            "n_outputs": self.n_outputs,
            "n_qubits": self.n_qubits,
            "n_layers": self.n_layers,
            "layers": self.layers,
            "p_classical": self.p_classical,
            "encoding": "amplitude (x/|x|, zero-padded)",
            "layer": "RZ RY RZ on every qubit (theta index 3(i*L+l)+j), CNOT ring",
            "readout": f"<Z_k>, k=0..{self.n_classes - 1}, as logits",
            "n_params": self.n_theta,
        }


# -- the classical model ----------------------------------------------------------------------
def paper_mlp(input_dim: int = PAPER_N_FEATURES, n_classes: int = PAPER_N_CLASSES,
              hidden: tuple[int, ...] = PAPER_HIDDEN, init_scheme: str = "torch-default") -> MLP:
    """The notebook's ``ClassicalNet``: tanh MLP 16-4-4-4-4 (128 parameters), PyTorch-default
    initialisation."""
    return MLP(input_dim, n_classes, hidden=hidden, activation="tanh", init_scheme=init_scheme,
               meta={"paper": "ClassicalNet"})


def paper_lipschitz(input_dim: int = PAPER_N_FEATURES, n_classes: int = PAPER_N_CLASSES,
                    hidden: tuple[int, ...] = PAPER_HIDDEN, lipschitz_k: float = 1.0,
                    weight_norm: str = "spectral") -> LipschitzMLP:
    """The notebook's ``LipschitzNet``: :class:`LipschitzMLP` 16-4-4-4-4 (128 parameters)."""
    return LipschitzMLP(input_dim, n_classes, hidden=hidden, lipschitz_k=lipschitz_k,
                        weight_norm=weight_norm, meta={"paper": "LipschitzNet"})


# -- registry ----------------------------------------------------------------------------------
#: family name -> builder; each takes keyword options only.
PAPER_MODELS = {"quantum": PaperQuantumModel, "classical": paper_mlp, "lipschitz": paper_lipschitz}
PAPER_FAMILIES = tuple(PAPER_MODELS)


def build_paper_model(family: str, **kw):
    """One of the paper's tabular models by family (:data:`PAPER_FAMILIES`):

    * ``"quantum"``: :class:`PaperQuantumModel` (options ``n_qubits``, ``n_features``,
      ``n_classes``, ``layers``, ``p_classical``);
    * ``"classical"``: :func:`paper_mlp` (``input_dim``, ``n_classes``, ``hidden``, ``init_scheme``);
    * ``"lipschitz"``: :func:`paper_lipschitz` (``input_dim``, ``n_classes``, ``hidden``,
      ``lipschitz_k``, ``weight_norm``).
    """
    if family not in PAPER_MODELS:
        raise ValueError(f"unknown family {family!r}; valid families are {list(PAPER_FAMILIES)}")
    try:
        return PAPER_MODELS[family](**kw)
    except TypeError as err:  # an unknown keyword: name it with the family
        raise ValueError(f"bad option for family {family!r}: {err}") from None
