"""Gradient-norm bounds for whole models: circuit bounds composed with the head, the loss and
classical layers by the chain rule (derivation: ``docs/bounds.md``)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..models.hybrid import QuantumModel
from ..models.task import LOSS_TASKS
from .circuit import (
    cap_groups,
    feature_bounds,
    grouped_norm,
    half_spread_bound,
    output_bound,
    parameter_bounds,
    slot_bounds,
)

_SQRT2 = math.sqrt(2.0)


@dataclass(frozen=True)
class Bound:
    """An upper bound ``G`` on the per-example gradient norm ``‖∇ℓ(x, y)‖₂``.

    * ``total``: ``G ≤ sqrt(Σ_g groups[g]**2)`` over every trainable parameter (smaller when the
      head's scale and the first product-state layer are bounded jointly, ``meta["joint_head"]``);
    * ``groups``: the bound per parameter group (``"theta"``, ``"head"``, ``"pre"``, ``"post"``);
    * ``parameter_free``: True when ``G`` holds for every parameter value (with ``|a| ≤
      head_scale`` for the head's scale, see ``assumptions``); False when it was computed from
      the given ``params`` and holds only at them;
    * ``assumptions``: what ``G`` takes as given, in words (feature domain, head scale, ...).
    """

    total: float
    groups: dict[str, float]
    parameter_free: bool
    loss: str
    feature_bound: float | None
    head_scale: float | None
    assumptions: tuple[str, ...] = ()
    meta: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"bound": self.total, "groups": dict(self.groups), "parameter_free": self.parameter_free,
                "loss": self.loss, "feature_bound": self.feature_bound, "head_scale": self.head_scale,
                "assumptions": list(self.assumptions), **self.meta}


def _combine(B: np.ndarray, task: str, dloss: float) -> np.ndarray:
    """Per component ``i``, a bound on ``|Σ_k g_k ∂f_k/∂v_i|`` given ``|∂f_k/∂v_i| ≤ B[k, i]``.

    Binary (``logit = a Σ_k f_k + b``): ``g_k = ∂ℓ/∂logit`` for all ``k``, ``|g| ≤ dloss``.
    K-class: ``g = softmax - e_y``: ``Σ_k g_k = 0``, ``g_y ∈ [-1, 0]``, ``‖g‖₂ ≤ √2``; so the sum
    is at most ``|g_y| (B[y, i] + max_{k≠y} B[k, i])`` ≤ the two largest ``B[·, i]``, and at most
    ``√2 ‖B[:, i]‖₂`` (Cauchy-Schwarz); take the smaller.
    """
    if task == "binary":
        return dloss * B.sum(axis=0)
    top2 = np.sort(B, axis=0)[-2:].sum(axis=0) if B.shape[0] >= 2 else B.sum(axis=0)
    return np.minimum(top2, _SQRT2 * np.sqrt((B**2).sum(axis=0)))


def _joint_head_saving(theta_comp, joint, caps, f_sq: float, a_eff) -> float:
    """How much of ``G²`` the head's scale and one product-state layer ``S`` share.

    With ``ρ'`` the product state at the layer and ``O'`` the observable after it (``O = Σ_k O_k``
    for the binary head, ``Σ_k g_k O_k`` for K classes), the layer's gradient obeys ``‖∇_S ⟨O'⟩‖² ≤
    Var_ρ'(O')`` (:func:`.circuit.product_groups`) and the head's ``∂ℓ/∂a`` is ``ℓ'·⟨O'⟩_ρ'``, so
    ``a²‖∇_S⟨O'⟩‖² + ⟨O'⟩² ≤ max(a², 1)·⟨O'²⟩ ≤ max(a², 1)·‖O‖²``, where the separate bounds pay
    ``a²·cap² + ‖O‖²``. ``f_sq`` bounds ``(∂ℓ/∂a)²``; the saving is that of the group that gains most.
    A group of trainable encodings carries its :func:`.circuit.group_factor` ``c`` (``a_eff = a·c``:
    its gradient is at most ``c`` times the angles').
    """
    comp = np.asarray(theta_comp, dtype=float)
    savings = [min(float((comp[list(g)] ** 2).sum()), cap**2) - (max(ae * ae, 1.0) - 1.0) * f_sq
               for g, cap, ae in zip(joint, caps, a_eff)]
    return max(0.0, max(savings))


def _spectral(w) -> float:
    return float(np.linalg.norm(np.asarray(w, dtype=float), 2)) if np.size(w) else 0.0


def _mlp_backward(layers, out_grad: float, in_norm: float, hidden_norms, final_slope: float = 1.0):
    """Bounds for a ``tanh`` MLP (``dpqml.models.hybrid._mlp_apply``) given ``‖∂ℓ/∂out‖ ≤ out_grad``.

    ``δ_L = ∂ℓ/∂z_L`` has norm ≤ ``final_slope · out_grad``; ``δ_l ≤ ‖W_{l+1}‖₂ ‖δ_{l+1}‖`` since
    ``|tanh'| ≤ 1``; ``‖∂ℓ/∂W_l‖_F = ‖δ_l‖ ‖h_{l-1}‖`` and ``‖∂ℓ/∂b_l‖ = ‖δ_l‖``. Returns the
    group bound and the bound on ``‖∂ℓ/∂input‖ = ‖W_1ᵀ δ_1‖``.
    """
    norms_in = [in_norm, *hidden_norms]
    delta = final_slope * out_grad
    sq = 0.0
    for l in reversed(range(len(layers))):
        w, _ = layers[l]
        sq += delta**2 * (norms_in[l] ** 2 + 1.0)
        delta = _spectral(w) * delta
    return math.sqrt(sq), delta


def _dloss(loss: str, logit_bound: float | None) -> float:
    """Bound on ``|∂ℓ/∂logit|`` (binary) or ``‖∂ℓ/∂logits‖₂`` (K-class)."""
    if loss == "logistic":
        return 1.0  # |σ(-t s) · t| ≤ 1
    if loss == "cross-entropy":
        return _SQRT2  # ‖softmax - e_y‖₂² = (1-p_y)² + Σ_{k≠y} p_k² ≤ 2(1-p_y)²
    return logit_bound + 1.0  # squared: |s - t| ≤ |s| + 1


def _own_bound(model, loss: str | None) -> Bound:
    """The bound of a model that derives its own (the paper's tabular quantum model: amplitude
    encoding, ``<Z_k>`` as logits without a head, cross-entropy; ``PaperQuantumModel.gradient_bound``)."""
    if loss not in (None, model.default_loss):
        raise ValueError(f"the bound of {type(model).__name__} is for its loss {model.default_loss!r}; got {loss!r}")
    g = float(model.gradient_bound())
    return Bound(total=g, groups={"theta": g}, parameter_free=True, loss=model.default_loss, feature_bound=None,
                 head_scale=None, assumptions=(
                     "any input (amplitude encoding normalises it)",
                     "logits are the expectations <Z_k> in [-1, 1], no trainable head",
                     "noiseless circuit: each qubit's RZ RY RZ of a layer has squared gradient "
                     "<= 2 Var(sum_k r_k Z_k) (Robertson), r = softmax - e_y"))


def gradient_bound(model: QuantumModel, *, feature_bound: float | None = None, params=None,
                   loss: str | None = None, head_scale: float | None = None,
                   refine: bool = True) -> Bound:
    """An upper bound ``G`` on ``‖∇ℓ(x, y)‖₂`` over all trainable parameters of ``model``.

    * ``feature_bound``: ``X`` with every input feature ``|x_j| ≤ X``; needed for trainable
      encodings (``reuploading``) and for ``pre`` layers, refused as ``ValueError`` otherwise;
    * ``params``: the current parameters; required for ``pre``/``post`` layers and the
      squared loss (the bound then holds at these parameters only, ``parameter_free=False``);
      with ``params`` the head's ``|a|`` is read from them;
    * ``head_scale``: a declared bound on ``|a|`` when ``params`` is not given (default 1, the
      value :meth:`QuantumModel.init` sets; ``G``'s θ part grows linearly with ``|a|``);
    * ``loss``: default the model's (logistic for binary, cross-entropy for K-class);
    * ``refine=False``: skip the light-cone/commutation/noise refinements (the naive bound).

    Holds for every input in the domain, every label, every value of the circuit angles, exact
    or finite-shot circuits and noisy or noiseless simulation alike.
    """
    if not isinstance(model, QuantumModel) and hasattr(model, "gradient_bound"):
        return _own_bound(model, loss)
    if not isinstance(model, QuantumModel):
        raise ValueError(f"gradient_bound takes a dpqml QuantumModel; got {type(model).__name__}")
    loss = loss or model.default_loss
    if loss not in LOSS_TASKS:
        raise ValueError(f"unknown loss {loss!r}; valid losses are {list(LOSS_TASKS)}")
    if LOSS_TASKS[loss] != model.task:
        raise ValueError(f"loss {loss!r} needs a {LOSS_TASKS[loss]} model; this model is {model.task}")
    if feature_bound is not None and (not np.isfinite(feature_bound) or feature_bound < 0):
        raise ValueError(f"feature_bound must be a finite number >= 0; got {feature_bound!r}")
    if head_scale is not None and (not np.isfinite(head_scale) or head_scale < 0):
        raise ValueError(f"head_scale must be a finite number >= 0; got {head_scale!r}")
    circ = model.circuit
    uses_classical = bool(model.pre or model.post)
    if params is None and (uses_classical or loss == "squared"):
        need = "classical 'pre'/'post' layers" if uses_classical else "the squared loss"
        raise ValueError(f"params are required: with {need} the bound depends on the current parameters")
    if model.pre and feature_bound is None:
        raise ValueError("feature_bound is required with 'pre' layers: their gradient grows with ||x|| "
                         "(declare |x_j| <= X, --feature-bound X)")
    assumptions = []
    if feature_bound is not None:
        assumptions.append(f"every input feature |x_j| <= {feature_bound:g}")
    # circuit inputs after 'pre' layers are π·tanh(·), so |u_j| <= π whatever x is
    circuit_x = math.pi if model.pre else feature_bound
    slots = slot_bounds(circ, refine=refine)
    theta = None if params is None else np.asarray(params["theta"], dtype=float)
    B = parameter_bounds(circ, slots, circuit_x)  # (n_obs, n_params)
    out_norms = np.array([output_bound(circ, k) for k in range(len(circ.observables))])
    # product-state layers and rotation runs: each group's gradient is bounded jointly by a few
    # half spreads (circuit.cap_groups)
    product, runs = cap_groups(circ, circuit_x) if refine else ([], [])  # (group, factor) each
    joint, factors = [g for g, _ in product], [f for _, f in product]
    spreads = np.array([half_spread_bound(circ, k) for k in range(len(circ.observables))])
    groups: dict[str, float] = {}
    parameter_free = params is None

    if model.post:
        layers = params["post"]
        hidden = [math.sqrt(w.shape[0]) for w, _ in layers[:-1]]  # tanh outputs lie in [-1, 1]
        f_norm = float(np.linalg.norm(out_norms))
        z_in = hidden[-1] if hidden else f_norm
        w_last, b_last = layers[-1]
        logit_bound = _spectral(w_last) * z_in + float(np.linalg.norm(np.asarray(b_last, dtype=float)))
        dl = _dloss(loss, logit_bound)
        groups["post"], df = _mlp_backward(layers, dl, f_norm, hidden)
        # ∂ℓ/∂θ_i = Σ_k (∂ℓ/∂f_k) ∂f_k/∂θ_i ≤ ‖∂ℓ/∂f‖₂ ‖B[:, i]‖₂
        theta_comp = df * np.sqrt((B**2).sum(axis=0))
        cap = df * float(np.linalg.norm(spreads))  # |Σ u_k <O_k>| spreads by at most ‖u‖ ‖spreads‖
        dfeat_vec = None if not model.pre else df * np.sqrt(
            (feature_bounds(circ, slots, theta) ** 2).sum(axis=0))
        assumptions.append("the 'post' layers' weights are the given params")
    else:
        if params is not None:
            a = abs(float(params["head"]["a"]))
            assumptions.append(f"head scale |a| = {a:g} (from params)")
        else:
            a = 1.0 if head_scale is None else float(head_scale)
            assumptions.append(f"head scale |a| <= {a:g} (the θ part scales with |a|; "
                               "init sets a = 1)")
        if model.task == "binary":
            fmax = float(out_norms.sum())
            logit_bound = None
            if loss == "squared":
                logit_bound = a * fmax + abs(float(params["head"]["b"]))
            dl = _dloss(loss, logit_bound)
            theta_comp = a * _combine(B, "binary", dl)
            cap = a * dl * float(spreads.sum())
            f_sq = (dl * fmax) ** 2  # the bound on (∂ℓ/∂a)², which the joint rule shares
            groups["head"] = dl * math.sqrt(fmax**2 + 1.0)
            if model.pre:
                dfeat_vec = a * _combine(feature_bounds(circ, slots, theta), "binary", dl)
        else:
            on = out_norms[:, None]
            a_grad = float(_combine(on, "multiclass", _SQRT2)[0])
            theta_comp = a * _combine(B, "multiclass", _SQRT2)
            cap = a * float(_combine(spreads[:, None], "multiclass", _SQRT2)[0])
            f_sq = a_grad**2
            groups["head"] = math.sqrt(a_grad**2 + 2.0)
            if model.pre:
                dfeat_vec = a * _combine(feature_bounds(circ, slots, theta), "multiclass", _SQRT2)
    caps = [cap * f for f in factors]  # a group of trainable encodings carries its factor
    groups = {"theta": grouped_norm(theta_comp, [g for g, _ in product + runs], [cap * f for _, f in product + runs]),
              **groups}
    if model.pre:
        layers = params["pre"]
        hidden = [math.sqrt(w.shape[0]) for w, _ in layers[:-1]]
        x_norm = feature_bound * math.sqrt(model.input_dim)
        # u = π·tanh(z): |∂u/∂z| ≤ π
        groups["pre"], _ = _mlp_backward(layers, float(np.linalg.norm(dfeat_vec)), x_norm, hidden,
                                         final_slope=math.pi)
        assumptions.append("the 'pre' layers' weights are the given params")
        assumptions.append("circuit inputs are pi*tanh(.) of the 'pre' layers, so |u_j| <= pi")
    total_sq = sum(v**2 for v in groups.values())
    saving = 0.0
    if joint and not model.post:  # the head's scale shares its budget with one product-state layer
        saving = _joint_head_saving(theta_comp, joint, caps, f_sq, [a * f for f in factors])
    total = math.sqrt(max(total_sq - saving, 0.0))
    meta = {"n_params": int(circ.n_params), "refined": refine, "joint_head": saving > 0}
    return Bound(total, groups, parameter_free, loss, feature_bound,
                 None if model.post else a, tuple(assumptions), meta)


def circuit_bound(circuit, *, feature_bound: float | None = None, refine: bool = True) -> Bound:
    """A bound on the circuit's outputs alone, without head and loss: ``groups[f"<O_k>"]`` bounds
    ``‖∇_θ ⟨O_k⟩‖₂`` and ``total`` bounds the Jacobian's Frobenius (hence spectral) norm, over every
    parameter value and every input (``feature_bound``: ``|x_j| ≤ X``, needed for trainable
    encodings). A model is taken by its ``circuit``."""
    circuit = getattr(circuit, "circuit", circuit)
    if feature_bound is not None and (not np.isfinite(feature_bound) or feature_bound < 0):
        raise ValueError(f"feature_bound must be a finite number >= 0; got {feature_bound!r}")
    B = parameter_bounds(circuit, slot_bounds(circuit, refine=refine), feature_bound)
    shared = sum(cap_groups(circuit, feature_bound), []) if refine else []
    groups = [g for g, _ in shared]
    rows = np.array([grouped_norm(B[k], groups, [half_spread_bound(circuit, k) * f for _, f in shared])
                     for k in range(B.shape[0])])
    assumptions = ["the circuit's outputs <O_k> alone (no head, no loss)"]
    if feature_bound is not None:
        assumptions.append(f"every input feature |x_j| <= {feature_bound:g}")
    return Bound(float(np.linalg.norm(rows)), {f"<O_{k}>": float(r) for k, r in enumerate(rows)}, True,
                 "none (circuit outputs)", feature_bound, None, tuple(assumptions))
