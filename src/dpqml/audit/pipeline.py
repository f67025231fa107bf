"""Auditing dpqml's own training pipeline: canaries in, the trainer run, an ε lower bound out.

``audit_pipeline(model, mechanism=..., epsilon=..., canaries=..., confidence=..., seed=...)`` plays the
membership game against :func:`dpqml.train.train` itself (its Poisson sampling, per-example clipping,
noise and normalisation, not a re-implementation), turns the attack's success into an ε lower bound
with the estimators of :mod:`dpqml.audit`, and compares it with the ε the accountant claims for the
same (σ, q, T, δ).

Threat models (``threat_model=``):

* ``"white-box"`` (default; Nasr et al. 2021's strongest adversary, the one DP-SGD is meant to resist):
  the adversary chooses every example's gradient function and observes every step's privatized update
  ``Σ clip(g_i) + z``. DP-SGD's guarantee holds for *any* per-example gradient bounded by C, so each
  canary is a Dirac gradient canary: a loss ``⟨θ, x_i⟩`` whose gradient is ``scale·C`` along the canary's
  own coordinate ``i`` (``scale > 1``, so that only clipping keeps it at C). Coordinate ``i`` of the
  updates then depends on canary ``i``'s coin, its sampling and its own noise only: the ``m`` canaries are
  ``m`` independent games (no interference, whatever the model's parameter count), so both the one-run
  audit and the multi-run Clopper–Pearson audit apply. The audited model is the mechanism, not the
  circuit: device noise only changes the per-example gradient function, which this adversary chooses.
* ``"white-box-model"``: the same adversary against the user's own ``model`` (device noise, shots and all),
  with no extra coordinates: canaries are inputs to the model, q = 1, and the adversary, who knows the model,
  computes every canary's clipped gradient at each step's parameters and solves the stacked updates for the
  coins by least squares (``m ≤ p·T``). The default for ``device-noise`` and ``shots``.
* ``"black-box"``: the adversary sees only the final model. Canaries are mislabelled examples (inputs
  drawn like the data, the label flipped), trained together with real data by the user's ``model``
  (device noise included), and scored by their loss (``score="loss"``) or logit margin (``"logit"``).

The claim audited is exactly the accountant's ε for the (σ, C, q, T, δ) that :class:`PrivacyConfig`
derives; ``mechanism="none" | "device-noise" | "shots"`` train with σ = 0 and claim ε = ∞ (no formal
guarantee), so their lower bound is limited only by the number of canaries. ``fault=`` deliberately
breaks the trainer's inputs (``"half-noise"``: σ/2; ``"no-clip"``: clipping disabled) while keeping the
original claim, to check that the audit catches a broken implementation.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from dpqml.audit.games import CANARY_SCALE, black_box_scores, white_box_model_scores, white_box_scores
from dpqml.audit.metrics import auroc, tpr_at_fpr
from dpqml.audit.multi_run import multi_run_audit, runs_needed
from dpqml.audit.one_run import DEFAULT_GUESS_FRACTIONS, canaries_needed, one_run_audit
from dpqml.validation import check_choice, check_count, check_probability, check_scalar

MECHANISMS = ("none", "device-noise", "shots", "dpsgd")
THREAT_MODELS = ("white-box", "white-box-model", "black-box")
METHODS = ("one-run", "multi-run")
FAULTS = (None, "half-noise", "no-clip")
SCORES = ("loss", "logit")
#: False-positive rates at which the attack's true-positive rate is reported.
REPORTED_FPRS = (0.001, 0.01, 0.1)
#: Default canaries, q and T per threat model: full-batch steps where every update is observed (the
#: tightest white-box game); enough steps for the model to fit its canaries in the black-box game.
DEFAULTS = {"white-box": {"canaries": 10_000, "sample_rate": 1.0, "steps": 4},
            "white-box-model": {"canaries": 500, "sample_rate": 1.0, "steps": 60},
            "black-box": {"canaries": 200, "sample_rate": 0.1, "steps": 200}}
#: Finite shots add noise that the least-squares adversary must average out: fewer canaries, more steps
#: (p·T/m ≈ 7 for the standard model), and parameter-shift training is slow.
SHOTS_MODEL_DEFAULTS = {"canaries": 100, "sample_rate": 1.0, "steps": 40}
_NO_CLIP_FACTOR = 2 * CANARY_SCALE  # "no-clip": clip at 8·C with noise σ·C: no canary (norm 4·C) is clipped


@dataclass(frozen=True)
class AuditResult:
    """The outcome of :func:`audit_pipeline`. ``epsilon_claimed`` is ``inf`` when the mechanism has no
    formal guarantee (σ = 0); ``broken`` is True when ``epsilon_lower > epsilon_claimed``."""

    mechanism: str
    threat_model: str
    method: str
    epsilon_claimed: float
    epsilon_lower: float
    confidence: float
    delta: float
    canaries: int
    tpr_at_fpr: dict
    auroc: float
    noise_multiplier: float
    max_grad_norm: float
    sample_rate: float
    steps: int
    fault: str | None
    seconds: float
    details: dict = field(default_factory=dict)

    @property
    def broken(self) -> bool:
        return self.epsilon_lower > self.epsilon_claimed

    @property
    def verdict(self) -> str:
        """One line in plain words: what the numbers mean."""
        lower = f"ε ≥ {self.epsilon_lower:.3f} with confidence {self.confidence:g}"
        if self.broken:
            return (f"BROKEN GUARANTEE: the audit proves {lower}, above the claimed ε = {self.epsilon_claimed:g} "
                    f"(δ = {self.delta:g}); the implementation or its privacy analysis is wrong")
        if math.isinf(self.epsilon_claimed) and self.threat_model == "black-box":
            return (f"NO GUARANTEE: mechanism {self.mechanism!r} adds no calibrated noise (σ = 0), so the true ε is "
                    f"unbounded; this black-box attack proves only {lower}: a weak attack, not evidence of privacy "
                    "(the white-box game shows what σ = 0 allows)")
        if math.isinf(self.epsilon_claimed):
            return (f"NO GUARANTEE: mechanism {self.mechanism!r} adds no calibrated noise (σ = 0), so the true ε is "
                    f"unbounded; the audit proves {lower}, a figure limited only by the number of canaries "
                    f"({self.canaries}) and δ, not by anything in the mechanism")
        return (f"consistent: {lower}, at or below the claimed ε = {self.epsilon_claimed:g} (δ = {self.delta:g}); "
                "an audit can refute a claim, never prove it")

    def to_dict(self) -> dict:
        """JSON-able (``inf`` as ``None`` for ``epsilon_claimed``)."""
        d = asdict(self)
        d["epsilon_claimed"] = None if math.isinf(self.epsilon_claimed) else self.epsilon_claimed
        d["broken"] = self.broken
        d["verdict"] = self.verdict
        return d


# -- privacy configuration of the audited run -----------------------------------------------------
def _claimed_and_run_configs(mechanism, epsilon, delta, sample_rate, steps, max_grad_norm, n_examples, fault):
    """``(claimed, run)``: the PrivacyConfig whose ε is claimed, and the one the trainer really gets."""
    from dpqml.privacy import PrivacyConfig

    if mechanism == "dpsgd":
        claimed = PrivacyConfig.from_target_epsilon(epsilon, delta=delta, sample_rate=sample_rate, steps=steps,
                                                    max_grad_norm=max_grad_norm, n_examples=n_examples)
    else:
        claimed = PrivacyConfig(0.0, max_grad_norm, sample_rate, steps, delta, n_examples)
    sigma, clip = claimed.noise_multiplier, claimed.max_grad_norm
    if fault == "half-noise":
        sigma = sigma / 2
    elif fault == "no-clip":  # the same noise std σC, but a clip no canary reaches
        sigma, clip = sigma / _NO_CLIP_FACTOR, clip * _NO_CLIP_FACTOR
    run = PrivacyConfig(sigma, clip, sample_rate, steps, delta, n_examples)
    return claimed, run


# -- the public entry point -----------------------------------------------------------------------
def _check_mechanism_model(mechanism, model, shots, train_options):
    if mechanism == "device-noise" and model is not None:
        ops = getattr(getattr(model, "circuit", None), "operations", ())
        if not any(op.is_noise or op.is_readout for op in ops):
            raise ValueError("mechanism 'device-noise' needs a quantum model with a device-noise preset "
                             "(e.g. --noise nisq); this model has no noise channel")
    if mechanism == "shots":
        train_options = {"method": "parameter-shift", "shots": shots, **train_options}
    return train_options


def _game(mechanism, threat_model):
    """The threat model of an audit of ``mechanism`` (``None``: its default) and the game's defaults."""
    if threat_model is None:  # the noise under test lives in the model: play the game on the model itself
        threat_model = "white-box-model" if mechanism in ("device-noise", "shots") else "white-box"
    threat_model = check_choice(threat_model, "threat_model", THREAT_MODELS)
    if threat_model == "white-box-model" and mechanism == "shots":
        return threat_model, SHOTS_MODEL_DEFAULTS
    return threat_model, DEFAULTS[threat_model]


def check_audit_memory(model, *, mechanism: str = "dpsgd", threat_model: str | None = None,
                       canaries: int | None = None, max_physical_batch: int = 256, shots: int = 1000,
                       n_data: int = 200, double: bool = False) -> None:
    """Refuse, before any work, an audit whose training of ``model`` cannot fit in memory.

    Applies the trainer's own check (:func:`dpqml.train.trainer.check_training_memory`) to the
    largest training set the game of :func:`audit_pipeline` (same arguments, same defaults) gives the
    trainer: the included canaries, at most ``canaries`` (white-box-model), or ``n_data`` data rows plus
    the canaries (black-box); ``mechanism="shots"`` trains by parameter shift. The white-box game trains
    no circuit (its adversary crafts the gradients) and always passes. Raises ``MemoryError``.
    """
    from dpqml.train.trainer import check_training_memory

    mechanism = check_choice(mechanism, "mechanism", MECHANISMS)
    threat_model, defaults = _game(mechanism, threat_model)
    if threat_model == "white-box":
        return
    canaries = defaults["canaries"] if canaries is None else canaries
    n_examples = canaries + (n_data if threat_model == "black-box" else 0)
    cost = None
    if mechanism == "shots":
        from dpqml.engine.parameter_shift import parameter_shift_cost

        cost = parameter_shift_cost(model, shots)
    check_training_memory(model, max_physical_batch, n_examples, double=double, cost=cost,
                          batch_setting="the audit's max_physical_batch")


def required_canaries(epsilon: float, *, confidence: float = 0.95, delta: float = 1e-5,
                      method: str = "one-run") -> int:
    """The fewest canaries with which a perfect attacker could show ``ε_lower ≥ epsilon`` in this audit.

    ``one-run``: :func:`canaries_needed` at the Bonferroni level of ``one_run_audit``'s default grid,
    with every canary guessed; ``multi-run``: :func:`runs_needed` with the threshold split (a canary is a run).
    """
    if method == "multi-run":
        return runs_needed(epsilon, confidence=confidence, delta=delta, split=True)
    per_test = 1.0 - (1.0 - confidence) / len(DEFAULT_GUESS_FRACTIONS)
    return canaries_needed(epsilon, confidence=per_test, delta=delta, guess_fraction=1.0)


def audit_pipeline(model=None, *, mechanism: str = "dpsgd", epsilon: float = 1.0, canaries: int | None = None,
                   confidence: float = 0.95, seed: int = 0, threat_model: str | None = None,
                   method: str = "one-run", delta: float = 1e-5, sample_rate: float | None = None,
                   steps: int | None = None,
                   max_grad_norm: float = 1.0, fault: str | None = None, score: str = "loss", data=None,
                   learning_rate: float = 0.05, max_physical_batch: int = 256, shots: int = 1000,
                   **train_options) -> AuditResult:
    """Audit dpqml's DP-SGD trainer with ``canaries`` canaries and report an ε lower bound.

    Args:
        model: the model trained in the white-box-model and black-box games (and checked for a device-noise
            preset when ``mechanism="device-noise"``); unused by the white-box game, whose adversary crafts
            the gradients.
        mechanism: ``"dpsgd"`` (σ calibrated to ``epsilon`` by the PLD accountant), or ``"none"``,
            ``"device-noise"``, ``"shots"`` (σ = 0: no formal guarantee, ε claimed = ∞).
        epsilon: the target ε of ``"dpsgd"``; for every mechanism also the ε the audit must be able to
            certify: fewer canaries than :func:`required_canaries` raise ``ValueError``.
        canaries: m, each included with probability ½ (coins from ``seed``); default
            :data:`DEFAULTS` of the threat model (10,000 white-box, 500 white-box-model (100 for
            ``shots``), 200 black-box).
        confidence: of the lower bound, in (0, 1).
        threat_model: ``"white-box"`` (Dirac gradient canaries, every update observed), ``"white-box-model"``
            (canaries are inputs to ``model`` itself, every update observed, least-squares scores) or
            ``"black-box"``; default ``"white-box-model"`` for ``device-noise`` and ``shots`` (the noise under
            test is in the model), ``"white-box"`` otherwise.
        method: ``"one-run"`` (Steinke et al. 2023) or ``"multi-run"`` (Clopper–Pearson over the canaries'
            independent games, threshold chosen on a split; white-box only).
        delta, sample_rate, steps, max_grad_norm: δ, q, T, C of the audited DP-SGD configuration (q and T
            default to :data:`DEFAULTS`: q = 1, T = 4 white-box; q = 1, T = 60 white-box-model; q = 0.1, T = 200
            black-box).
        fault: ``None``, ``"half-noise"`` or ``"no-clip"``: break the trainer's inputs, keep the claim.
        score: black-box membership score, ``"loss"`` or ``"logit"``.
        shots: measurement samples per circuit evaluation of ``mechanism="shots"`` (finite-shot
            parameter-shift training, ``TrainConfig(method="parameter-shift", shots=...)``; black-box game).
        data: black-box training data ``(x, y)`` (default: 200 digits, 0 vs 1, pooled to the model's inputs).

    Returns:
        :class:`AuditResult`; ``result.to_dict()`` for JSON.
    """
    mechanism = check_choice(mechanism, "mechanism", MECHANISMS)
    threat_model, defaults = _game(mechanism, threat_model)
    method = check_choice(method, "method", METHODS)
    fault = check_choice(fault, "fault", FAULTS)
    score = check_choice(score, "score", SCORES)
    epsilon = check_scalar(epsilon, "epsilon", low=0.0, low_open=True)
    confidence = check_probability(confidence, "confidence", low_open=True, high_open=True)
    delta = check_probability(delta, "delta", high_open=True)
    if delta == 0.0:
        raise ValueError("delta must be > 0 for DP-SGD's (ε, δ) guarantee; got 0")
    canaries = check_count(defaults["canaries"] if canaries is None else canaries, "canaries", minimum=2)
    sample_rate = defaults["sample_rate"] if sample_rate is None else sample_rate
    steps = defaults["steps"] if steps is None else steps
    seed = check_count(seed, "seed")
    if method == "multi-run" and threat_model != "white-box":
        raise ValueError(f"method 'multi-run' needs independent games per canary: use threat_model='white-box' "
                         f"({threat_model} canaries share one model)")
    if threat_model != "white-box" and model is None:
        raise ValueError(f"threat_model {threat_model!r} trains the model: pass model=")
    shots = check_count(shots, "shots", minimum=1)
    train_options = _check_mechanism_model(mechanism, model, shots, dict(train_options))
    needed = required_canaries(epsilon, confidence=confidence, delta=delta, method=method)
    if canaries < needed:
        kind = "canaries_needed" if method == "one-run" else "runs_needed"
        raise ValueError(f"canaries={canaries} are too few: even a perfect attack could not show ε ≥ {epsilon:g} "
                         f"at confidence {confidence:g} (δ = {delta:g}); {kind} = {needed}")

    t0 = time.perf_counter()
    included = np.random.default_rng([seed, 0xC0145]).random(canaries) < 0.5  # fair coins, before training
    if threat_model == "white-box":
        claimed, run = _claimed_and_run_configs(mechanism, epsilon, delta, sample_rate, steps, max_grad_norm,
                                                max(1, canaries // 2), fault)
        scores = white_box_scores(canaries, included, claimed, run, seed, max_physical_batch)
    elif threat_model == "white-box-model":
        claimed, run = _claimed_and_run_configs(mechanism, epsilon, delta, sample_rate, steps, max_grad_norm,
                                                max(1, canaries // 2), fault)
        scores = white_box_model_scores(model, canaries, included, run, seed, max_physical_batch, train_options)
    else:
        if data is None:
            from dpqml.data import load_dataset

            ds = load_dataset("digits", n_train=200, n_features=getattr(model, "input_dim", None) or 4, seed=seed)
            data = (ds.x_train, ds.y_train)
        claimed, run = _claimed_and_run_configs(mechanism, epsilon, delta, sample_rate, steps, max_grad_norm,
                                                len(data[0]), fault)
        scores = black_box_scores(model, canaries, included, run, seed, score, data, learning_rate,
                                   max_physical_batch, train_options)

    if method == "one-run":
        report = one_run_audit(scores, included, delta=delta, confidence=confidence)
        details = {k: report[k] for k in ("guesses", "correct", "candidates", "per_test_confidence")}
    else:
        report = multi_run_audit(scores[included], scores[~included], delta=delta, confidence=confidence, seed=seed)
        details = {k: report[k] for k in ("threshold", "tp", "fn", "fp", "tn", "runs_in", "runs_out", "selection")}
    details.update({"included": int(included.sum()), "required_canaries": needed,
                    "canary_scale": CANARY_SCALE if threat_model == "white-box" else None,
                    "score": {"white-box": "update-sum", "white-box-model": "least-squares"}.get(threat_model, score)})
    claimed_eps = claimed.epsilon()
    return AuditResult(
        mechanism=mechanism, threat_model=threat_model, method=method, epsilon_claimed=claimed_eps,
        epsilon_lower=float(report["epsilon_lower"]), confidence=confidence, delta=delta, canaries=canaries,
        tpr_at_fpr={str(f): tpr_at_fpr(scores, included, f) for f in REPORTED_FPRS},
        auroc=auroc(scores, included), noise_multiplier=claimed.noise_multiplier,
        max_grad_norm=claimed.max_grad_norm, sample_rate=claimed.sample_rate, steps=claimed.steps, fault=fault,
        seconds=time.perf_counter() - t0, details=details)
