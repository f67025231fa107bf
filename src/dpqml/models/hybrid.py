"""Hybrid quantum-classical models as pure functions of ``(params, x)``.

A :class:`QuantumModel` holds a circuit description and a head; ``params`` is a pytree::

    {"theta": (n_params,),             # circuit angles
     "head": {"a": (), "b": ()} or {"a": (), "b": (K,)},
     "pre":  [(W, b), ...],            # optional classical layers before the circuit
     "post": [(W, b), ...]}            # optional classical layers after the circuit

Forward pass for one example ``x`` (shape ``(input_dim,)``):

1. ``pre`` layers (if any): ``h = tanh(W h + b)`` per hidden layer, then a linear layer to
   ``n_features`` outputs mapped to angles by ``π · tanh(·)`` (bounded, as the gradient
   bounds need);
2. the circuit: one expectation value per observable, ``f`` (shape ``(n_obs,)``);
3. ``post`` layers (if any): ``tanh`` MLP from ``f`` to the logits; otherwise the head:
   binary ``logit = a · sum_k f_k + b``; K-class ``logits_k = a · f_k + b_k`` (softmax over
   scaled ``<Z_k>``; needs ``n_obs == K``).

Losses: ``logistic`` (binary, labels in {0, 1}), ``cross-entropy`` (K-class, integer
labels), ``squared`` (binary, ``(logit - (2y - 1))^2 / 2``).
Nothing in a model mixes examples (no batch statistics), so per-example gradients are
exactly the gradients of per-example losses.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from ..quantum import Circuit, expectations
from .ansatze import ansatz, hea_layer
from .encodings import ENCODINGS, angle_encoding
from .noise import apply_noise
from .readouts import readout
from .task import LOSSES, Classifier  # noqa: F401 (LOSSES re-exported)

MODEL_ANSATZE = ("hea", "strongly-entangling", "reuploading")


def _mlp_init(key, sizes, dtype):
    layers = []
    for k, (m, n) in zip(jax.random.split(key, max(len(sizes) - 1, 1)), zip(sizes[:-1], sizes[1:])):
        w = jax.random.normal(k, (n, m), dtype) * float(np.sqrt(1.0 / m))  # a Python float keeps dtype
        layers.append((w, jnp.zeros((n,), dtype)))
    return layers


def _mlp_apply(layers, h, final_activation=None):
    for i, (w, b) in enumerate(layers):
        h = w @ h + b
        if i < len(layers) - 1:
            h = jnp.tanh(h)
    return final_activation(h) if final_activation else h


@dataclass(frozen=True, eq=False)
class QuantumModel(Classifier):
    """A hybrid classifier: optional classical layers, a circuit, and a head."""

    circuit: Circuit
    n_classes: int = 2
    input_dim: int | None = None
    pre: tuple[int, ...] = ()
    post: tuple[int, ...] = ()
    method: str = "auto"
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.n_classes < 2:
            raise ValueError(f"n_classes must be >= 2; got {self.n_classes}")
        if self.input_dim is None:
            object.__setattr__(self, "input_dim", self.circuit.n_features)
        if not self.pre and self.input_dim != self.circuit.n_features:
            raise ValueError(
                f"input_dim={self.input_dim} differs from the circuit's n_features="
                f"{self.circuit.n_features}; add classical 'pre' layers or match them"
            )
        n_obs = len(self.circuit.observables)
        if self.n_classes > 2 and not self.post and n_obs != self.n_classes:
            raise ValueError(
                f"a {self.n_classes}-class head over scaled <Z_k> needs {self.n_classes} observables; "
                f"the circuit measures {n_obs} (use readout 'z' with >= {self.n_classes} qubits)"
            )

    # -- parameters ----------------------------------------------------------------------
    def init(self, key, dtype=jnp.float32) -> dict:
        """Random parameters: angles uniform in [0, 2π), head a=1, b=0, Glorot-like MLPs."""
        k_theta, k_pre, k_post = jax.random.split(key, 3)
        params = {"theta": jax.random.uniform(k_theta, (self.circuit.n_params,), dtype, 0.0, 2 * np.pi)}
        n_obs = len(self.circuit.observables)
        if self.post:
            params["post"] = _mlp_init(k_post, (n_obs, *self.post, self.n_outputs), dtype)
        elif self.task == "binary":
            params["head"] = {"a": jnp.ones((), dtype), "b": jnp.zeros((), dtype)}
        else:
            params["head"] = {"a": jnp.ones((), dtype), "b": jnp.zeros((self.n_classes,), dtype)}
        if self.pre:
            params["pre"] = _mlp_init(k_pre, (self.input_dim, *self.pre, self.circuit.n_features), dtype)
        return params

    # -- forward -------------------------------------------------------------------------
    def circuit_inputs(self, params, x):
        """The features the circuit sees for one example (after ``pre`` layers)."""
        if "pre" in params:
            return _mlp_apply(params["pre"], x, lambda h: np.pi * jnp.tanh(h))
        return x

    def expectations(self, params, x):
        """Circuit outputs ``f`` for one example, shape ``(n_observables,)``."""
        return expectations(self.circuit, params["theta"], self.circuit_inputs(params, x), method=self.method)

    def apply(self, params, x):
        """Logit (binary: scalar) or logits (K-class: ``(K,)``) for one example ``x``."""
        return self.from_expectations(params, self.expectations(params, x))

    def from_expectations(self, params, f):
        """Logit or logits from the circuit outputs ``f`` (shape ``(n_observables,)``): the ``post``
        layers or the head. Finite-shot training calls it with estimated ``f``."""
        if "post" in params:
            out = _mlp_apply(params["post"], f)
            return out[0] if self.task == "binary" else out
        head = params["head"]
        if self.task == "binary":
            return head["a"] * jnp.sum(f) + head["b"]
        return head["a"] * f + head["b"]


@dataclass(frozen=True)
class ModelSpec:
    """The model flags shared by every command (``--qubits --layers --ansatz --encoding
    --readout --noise``); the defaults give the standard model."""

    qubits: int = 4
    layers: int = 2
    ansatz: str = "hea"
    encoding: str = "angle-y"
    readout: str = "z0"
    noise: str = "none"
    n_classes: int = 2
    input_dim: int | None = None
    pre: tuple[int, ...] = ()
    post: tuple[int, ...] = ()

    def validate(self) -> None:
        if not isinstance(self.qubits, int) or self.qubits < 1:
            raise ValueError(f"qubits must be an integer >= 1; got {self.qubits!r}")
        if not isinstance(self.layers, int) or self.layers < 1:
            raise ValueError(f"layers must be an integer >= 1; got {self.layers!r}")
        if self.ansatz not in MODEL_ANSATZE:
            raise ValueError(f"unknown ansatz {self.ansatz!r}; valid ansätze are {list(MODEL_ANSATZE)}")
        if self.encoding not in ENCODINGS:
            raise ValueError(f"unknown encoding {self.encoding!r}; valid encodings are {list(ENCODINGS)}")


def build_model(spec: ModelSpec | None = None, **overrides) -> QuantumModel:
    """Build the model a :class:`ModelSpec` (or keyword flags) describes.

    Circuit, in order: the encoding (``angle-*``: one rotation per qubit with feature
    ``x_i``; ``amplitude``: initial state), then ``layers`` layers of the ansatz; for
    ``reuploading`` each layer is a trainable encoding ``RY(w_i x_i + b_i)`` on every qubit
    followed by an ``hea`` layer (Pérez-Salinas et al. 2020, "Data re-uploading for a
    universal quantum classifier"); then the noise preset and the readout.
    """
    spec = ModelSpec(**{**(spec.__dict__ if spec else {}), **overrides})
    spec.validate()
    n, L = spec.qubits, spec.layers
    ops = []
    state_prep = "zero"
    if spec.pre:
        n_features = n
    elif spec.input_dim is not None:
        n_features = spec.input_dim
    else:
        n_features = n
    if spec.encoding == "amplitude":
        state_prep = "amplitude"
        if n_features > 2**n:
            need = int(np.ceil(np.log2(n_features)))
            raise ValueError(f"amplitude encoding of {n_features} features needs >= {need} qubits")
    elif spec.ansatz != "reuploading":
        if n_features > n:
            raise ValueError(
                f"angle encoding puts one feature per qubit: {n_features} features need >= {n_features} "
                f"qubits (got qubits={n}); add classical 'pre' layers or reduce the features"
            )
        enc, _ = angle_encoding(n_features, spec.encoding[-1].upper())
        ops += enc
    if spec.ansatz == "reuploading":
        if n_features > n:
            raise ValueError(
                f"reuploading encodes one feature per qubit: {n_features} features need >= {n_features} qubits"
            )
        used = 0
        for _ in range(L):
            enc, k = angle_encoding(n_features, "Y", trainable=True, weight_offset=used)
            used += k
            hea, k = hea_layer(n, 0, used)
            used += k
            ops += enc + hea
        n_params = used
    else:
        layer_ops, n_params = ansatz(spec.ansatz, n, L)
        ops += layer_ops
    n_out = spec.n_classes if spec.n_classes > 2 else None
    obs = readout(spec.readout if not (spec.n_classes > 2 and spec.readout == "z0") else "z", n, n_out)
    circ = Circuit(n, ops, obs, n_params=n_params, n_features=n_features, state_prep=state_prep,
                   meta={"spec": spec})
    circ = apply_noise(circ, spec.noise)
    return QuantumModel(circ, n_classes=spec.n_classes, input_dim=spec.input_dim or n_features,
                        pre=tuple(spec.pre), post=tuple(spec.post), meta={"spec": spec})
