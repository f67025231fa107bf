"""The paper's tabular study: ``dpqml compare --preset paper-tabular`` (and ``paper-tabular-clean``).

The experiment behind the paper's headline ("quantum models keep more accuracy than classical ones
under the same DP-SGD budget"), from its companion notebooks (``tabular/heatmap.ipynb`` of GitHub
``tigran-sedrakyan/private-qml``), as grids over the clip threshold C, the expected batch size B
and the privacy budget ε, for three model families (:data:`dpqml.models.PAPER_FAMILIES`):

* ``clipping`` (heatmap 1): σ = 0 (clipping only), C × B;
* ``privacy`` (heatmap 2): ε × C at one B, σ calibrated per (ε, q) with the PLD accountant (the
  σ that RDP would give is listed beside it, as the notebook used Opacus's RDP calibration).
  Its C axis may hold ``"bound"`` beside numbers: the bound-following column, quantum family only,
  in which each step clips at ``C_t = G(θ_t)``, the parameter-dependent gradient bound of the
  current parameters (:func:`dpqml.bounds.compiled.compiled_tracked_bound`), so clipping never
  changes a gradient, and adds noise ``σ·C_t`` (post-processing of released iterates: the
  accounting is unchanged). Its learning rate is the study's rule at ``C = G(θ_0)``, a function of
  the initialisation seed only.

Every (grid, family, B) is trained as a few jobs, each a vectorised bundle of runs (cells × seeds;
:func:`dpqml.train.vectorized.train_runs`), registered in ``DIR/results.sqlite`` like every
sweep: a rerun skips finished jobs and resumes interrupted ones from their checkpoints, and
every run's privacy ledger covers every step it ever took.

Two presets (:data:`TABULAR_PRESETS`):

* ``paper-tabular``: as published. The standard scaler is fitted on all 2,048 rows before the
  split (``scaler = "all-rows-as-published"``, an explicit opt-in; every result is marked
  "preprocessing not covered by ε"), the learning-rate rule sees the RDP σ as the notebook's did,
  and the headline metric is the notebook's: the best validation accuracy over epochs (measured at
  the start of each epoch as the mean of per-batch accuracies over validation batches of size B).
* ``paper-tabular-clean``: the same grids with the scaler fitted on a declared public split, the
  learning-rate rule fed the σ actually used, and the last epoch's test accuracy as the metric.

Both metrics are recorded for every run in both presets.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from dataclasses import asdict, dataclass, field, fields

from ..privacy.config import FOLLOW_BOUND
from ..train.lr_rules import check_learning_rate, learning_rate
from ..validation import check_choice, check_count, check_list, check_probability, check_scalar
from .config import digest

TABULAR_FAMILIES = ("quantum", "classical", "lipschitz")
VAL_WEIGHTINGS = ("batch-mean", "example")
LR_SIGMAS = ("rdp", "pld")
HEADLINE_METRICS = ("best_val_accuracy", "test_accuracy")
#: Runs vectorised in one job, per family (a quantum run's step costs more; smaller bundles keep
#: the bundles' batched kernels efficient and give the progress bar finer steps).
RUNS_PER_JOB = {"quantum": 10, "classical": 40, "lipschitz": 40}

METRIC_NOTES = {
    "best_val_accuracy": "the paper's metric: the maximum over epochs of the validation accuracy, measured at "
                         "the start of each epoch (the untrained model counts). Optimistic: it picks an epoch "
                         "by looking at held-out data.",
    "test_accuracy": "the clean metric: test accuracy after the last epoch, on a test split that nothing else "
                     "looks at.",
}


def _paper_data() -> dict:
    from ..data.classification import PAPER_CLASSIFICATION

    return dict(PAPER_CLASSIFICATION)


@dataclass(frozen=True)
class TabularConfig:
    """The settings of a tabular study; every field has the paper's value by default.

    ``clipping_grid``: ``{"max_grad_norm": [...], "batch_size": [...]}`` (σ = 0), or ``None``.
    ``privacy_grid``: ``{"epsilon": [...], "max_grad_norm": [...], "batch_size": B}``, or ``None``;
    its ``max_grad_norm`` may list ``"bound"`` (the bound-following column; needs the quantum family).
    ``learning_rate``: ``"paper-rule"``, a positive number, or ``{family: rate}``.
    ``lr_sigma``: which σ the paper's rule sees (``rdp``: the notebook's; ``pld``: the one used).
    ``lipschitz_k``: K of the Lipschitz family (``None``: K = C).
    ``quantum_layers``: ``"auto"`` (parameter count matched to the MLP: 11) or a number.
    ``val_weighting``: ``batch-mean`` (the notebook's mean of per-batch accuracies over validation
    batches of size B) or ``example`` (plain accuracy).
    """

    name: str = "paper-tabular"
    data: dict = field(default_factory=_paper_data)
    scaler: str = "all-rows-as-published"
    n_public: int = 128
    families: tuple = TABULAR_FAMILIES
    clipping_grid: dict | None = field(default_factory=lambda: {"max_grad_norm": [0.5, 1.5, 4.5, 10.0],
                                                                "batch_size": [32, 64, 128, 512]})
    privacy_grid: dict | None = field(default_factory=lambda: {"epsilon": [0.5, 1.0, 5.0, 10.0],
                                                               "max_grad_norm": [0.5, 1.5, 4.5, 10.0],
                                                               "batch_size": 64})
    seeds: tuple = tuple(range(10))
    epochs: int = 100
    delta: float = 1e-5
    momentum: float = 0.9
    weight_decay: float = 1e-4
    learning_rate: object = "paper-rule"
    lr_sigma: str = "rdp"
    lipschitz_k: float | None = None
    quantum_layers: object = "auto"
    val_weighting: str = "batch-mean"
    headline_metric: str = "best_val_accuracy"
    randomness: str = "fast"
    checkpoint_every: int = 10

    def __post_init__(self):
        object.__setattr__(self, "families", tuple(self.families))
        object.__setattr__(self, "seeds", tuple(self.seeds))
        self._validate()

    # -- validation: every error names the key and the valid range ------------------------------
    def _validate(self) -> None:
        from ..data.classification import SCALERS, check_classification_options

        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"name must be a non-empty string; got {self.name!r}")
        check_classification_options(self.data)
        if self.scaler not in SCALERS:
            raise ValueError(f"scaler: unknown scaler {self.scaler!r}; valid scalers are {list(SCALERS)} "
                             "(a scaler fitted on the private rows is offered only as 'all-rows-as-published', "
                             "an explicit opt-in that the report marks as not covered by ε)")
        check_count(self.n_public, "n_public", minimum=1)
        check_list(self.families, "families", unique=True,
                   item=lambda f, where: check_choice(f, where, TABULAR_FAMILIES))
        if self.clipping_grid is None and self.privacy_grid is None:
            raise ValueError("clipping_grid and privacy_grid are both empty: give at least one grid")
        if self.clipping_grid is not None:
            _keys("clipping_grid", self.clipping_grid, ("max_grad_norm", "batch_size"))
            check_list(self.clipping_grid["max_grad_norm"], "clipping_grid.max_grad_norm", item=_clip, unique=True)
            check_list(self.clipping_grid["batch_size"], "clipping_grid.batch_size", item=_batch)
        if self.privacy_grid is not None:
            _keys("privacy_grid", self.privacy_grid, ("epsilon", "max_grad_norm", "batch_size"))
            check_list(self.privacy_grid["epsilon"], "privacy_grid.epsilon", item=_positive)
            clips = check_list(self.privacy_grid["max_grad_norm"], "privacy_grid.max_grad_norm",
                               item=_clip_or_bound, unique=True)
            _batch(self.privacy_grid["batch_size"], "privacy_grid.batch_size")
            if FOLLOW_BOUND in clips and "quantum" not in self.families:
                raise ValueError(f"privacy_grid.max_grad_norm: {FOLLOW_BOUND!r} (C_t = G(θ_t)) follows the quantum "
                                 f"model's parameter-dependent bound; it needs 'quantum' in families "
                                 f"(got {list(self.families)})")
        check_list(self.seeds, "seeds", item=check_count, unique=True)
        check_count(self.epochs, "epochs", minimum=1)
        check_count(self.checkpoint_every, "checkpoint_every", minimum=1)
        check_probability(self.delta, "delta", low_open=True, high_open=True)
        check_probability(self.momentum, "momentum", high_open=True)
        check_scalar(self.weight_decay, "weight_decay", low=0.0)
        check_learning_rate(self.learning_rate, "learning_rate")
        check_choice(self.lr_sigma, "lr_sigma", LR_SIGMAS)
        if self.lipschitz_k is not None:
            _positive(self.lipschitz_k, "lipschitz_k")
        if self.quantum_layers != "auto":
            check_count(self.quantum_layers, "quantum_layers", minimum=1, what="or 'auto'")
        check_choice(self.val_weighting, "val_weighting", VAL_WEIGHTINGS)
        check_choice(self.headline_metric, "headline_metric", HEADLINE_METRICS)
        check_choice(self.randomness, "randomness", ("fast", "seeded"),
                     what="'fast': secret keys; 'seeded': reproducible noise, an opt-in")

    # -- derived ---------------------------------------------------------------------------------
    def batch_sizes(self) -> list[int]:
        out = set()
        if self.clipping_grid is not None:
            out.update(int(b) for b in self.clipping_grid["batch_size"])
        if self.privacy_grid is not None:
            out.add(int(self.privacy_grid["batch_size"]))
        return sorted(out)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["families"], d["seeds"] = list(self.families), list(self.seeds)
        return d

    def fingerprint(self) -> str:
        d = self.to_dict()
        d.pop("name")
        return digest(d)


def _keys(key, value, want) -> None:
    if not isinstance(value, dict) or set(value) != set(want):
        raise ValueError(f"{key} must be a table with exactly the keys {list(want)}; got {value!r}")


def _positive(v, where) -> float:
    return check_scalar(v, where, low=0.0, low_open=True)


def _clip(v, where) -> float:
    if v == FOLLOW_BOUND:
        raise ValueError(f"{where}: {FOLLOW_BOUND!r} is offered in privacy_grid.max_grad_norm only (σ = 0 here, and "
                         "clipping at the bound is plain unclipped training); give a number > 0")
    return _positive(v, where)


def _clip_or_bound(v, where):
    if isinstance(v, str):
        if v != FOLLOW_BOUND:
            raise ValueError(f"{where} must be a number > 0 or {FOLLOW_BOUND!r} (clip at G(θ_t)); got {v!r}")
        return v
    return _positive(v, where)


def _batch(v, where) -> int:
    return check_count(v, where, minimum=1, what="an expected batch size")


_PAPER = {}
_CLEAN = {"name": "paper-tabular-clean", "scaler": "public-split", "lr_sigma": "pld",
          "headline_metric": "test_accuracy", "val_weighting": "example"}
#: Named tabular studies.
TABULAR_PRESETS = {"paper-tabular": _PAPER, "paper-tabular-clean": _CLEAN}
TABULAR_KEYS = tuple(f.name for f in fields(TabularConfig))


def tabular_preset(name: str, **overrides) -> TabularConfig:
    if name not in TABULAR_PRESETS:
        raise ValueError(f"unknown tabular preset {name!r}; valid presets are {list(TABULAR_PRESETS)}")
    return TabularConfig(**{**TABULAR_PRESETS[name], **overrides})


def tabular_config_from_dict(raw: dict, source: str = "configuration") -> TabularConfig:
    """A :class:`TabularConfig` from a mapping whose ``preset`` names a tabular preset."""
    raw = dict(raw)
    name = raw.pop("preset")
    unknown = sorted(set(raw) - set(TABULAR_KEYS))
    if unknown:
        raise ValueError(f"{source}: unknown key(s) {unknown}; valid keys of a tabular study are "
                         f"{['preset', *TABULAR_KEYS]}")
    try:
        return tabular_preset(name, **raw)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{source}: {e}") from None


# -- planning: σ per (ε, B), the learning rates, the jobs -------------------------------------------
def load_splits(config: TabularConfig):
    from ..data.classification import load_tabular

    return load_tabular(config.data, scaler=config.scaler, n_public=config.n_public)


def run_learning_rate(config: TabularConfig, family: str, c: float, sigma_used: float, sigma_rdp, b: int) -> float:
    """A run's learning rate: the study's rule at clip threshold ``c``, expected batch ``b`` and the
    noise multiplier the rule sees (``lr_sigma = "rdp"``: the RDP-calibrated σ beside the PLD σ
    used, as the notebook did; public constants only)."""
    seen = sigma_rdp if (config.lr_sigma == "rdp" and sigma_used > 0) else sigma_used
    return learning_rate(config.learning_rate, family, max_grad_norm=c, noise_multiplier=seen, batch_size=b)


#: The relaxation of the bound-following column's ``C_t`` (``train_runs``' ``bound_relaxation``).
BOUND_RELAXATION = "sos"


def initial_bounds(config: TabularConfig, splits) -> dict[int, float]:
    """``{seed: G(θ_0)}``: the quantum model's parameter-dependent gradient bound at each seed's
    initial parameters, as the trainer computes the first ``C_t`` (float32, the tracked
    sum-of-squares bound, :func:`dpqml.bounds.compiled.compiled_tracked_bound`), to 6 significant
    digits; it sets the learning rate of the bound-following column. Public: the initialisation
    seed and the model only."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from ..bounds.compiled import compiled_tracked_bound

    model = job_model({"family": "quantum", "quantum_layers": config.quantum_layers}, splits.x_train.shape[1],
                      int(np.max(splits.y_train)) + 1)
    init, step = compiled_tracked_bound(model, dtype=jnp.float32)
    first = jax.jit(lambda theta: step(theta, init(theta))[0])
    return {int(s): float(f"{float(first(model.init(jax.random.PRNGKey(int(s)), dtype=jnp.float32)['theta'])):.6g}")
            for s in config.seeds}


def plan(config: TabularConfig) -> tuple[list[dict], dict]:
    """Everything that can fail before training: the data (and its split), every batch size against
    the training set, σ per (ε, B) (PLD, and RDP for reference), every run's learning rate. Returns
    the job specs and the protocol record of the report."""
    from ..privacy.accounting import check_delta
    from ..privacy.config import PrivacyConfig
    splits = load_splits(config)
    n = len(splits.x_train)
    for b in config.batch_sizes():
        if b > n:
            key = "privacy_grid.batch_size" if config.privacy_grid and b == config.privacy_grid["batch_size"] \
                else "clipping_grid.batch_size"
            raise ValueError(f"{key}: the expected batch size {b} exceeds the training set ({n} rows); "
                             f"valid range 1..{n}")
    sigmas = []
    if config.privacy_grid is not None:
        check_delta(config.delta, n)
        b = int(config.privacy_grid["batch_size"])
        q, steps = b / n, config.epochs * -(-n // b)
        for eps in config.privacy_grid["epsilon"]:
            pld = PrivacyConfig.from_target_epsilon(eps, delta=config.delta, sample_rate=q, steps=steps,
                                                    max_grad_norm=1.0, n_examples=n, accountant="pld")
            with _quiet_absl():  # RDP's orders that fail to converge are dropped (conservative); no warning storm
                rdp = PrivacyConfig.from_target_epsilon(eps, delta=config.delta, sample_rate=q, steps=steps,
                                                        max_grad_norm=1.0, n_examples=n, accountant="rdp")
            sigmas.append({"epsilon": float(eps), "batch_size": b, "sample_rate": q, "steps": steps,
                           "noise_multiplier": pld.noise_multiplier, "noise_multiplier_rdp": rdp.noise_multiplier})

    common = {"kind": "tabular", "study": config.fingerprint(), "data": config.data, "scaler": config.scaler,
              "n_public": config.n_public, "epochs": config.epochs, "delta": config.delta,
              "momentum": config.momentum, "weight_decay": config.weight_decay,
              "quantum_layers": config.quantum_layers, "val_weighting": config.val_weighting,
              "randomness": config.randomness, "checkpoint_every": config.checkpoint_every,
              "data_fingerprint": splits.fingerprint}
    follows = config.privacy_grid is not None and FOLLOW_BOUND in config.privacy_grid["max_grad_norm"]
    initial = initial_bounds(config, splits) if follows else {}
    specs = []
    for family in config.families:
        bundles: dict = {}
        if config.clipping_grid is not None:
            for b in config.clipping_grid["batch_size"]:
                for c in config.clipping_grid["max_grad_norm"]:
                    for s in config.seeds:
                        bundles.setdefault(("clipping", int(b), False), []).append(_run(
                            family, c, s, 0.0, None, None, run_learning_rate(config, family, c, 0.0, None, b), config))
        if config.privacy_grid is not None:
            b = int(config.privacy_grid["batch_size"])
            for entry in sigmas:
                for c in config.privacy_grid["max_grad_norm"]:
                    follow = c == FOLLOW_BOUND
                    if follow and family != "quantum":
                        continue  # the bound-following column: the quantum family only
                    sigma, sigma_rdp = entry["noise_multiplier"], entry["noise_multiplier_rdp"]
                    for s in config.seeds:
                        c_rule = initial[s] if follow else c
                        lr = run_learning_rate(config, family, c_rule, sigma, sigma_rdp, b)
                        run = _run(family, c, s, sigma, sigma_rdp, entry["epsilon"], lr, config)
                        if follow:
                            run["clip_at_init"] = c_rule
                        bundles.setdefault(("privacy", b, follow), []).append(run)
        for (grid, b, *follow), runs in bundles.items():
            parts = -(-len(runs) // RUNS_PER_JOB[family])
            size = -(-len(runs) // parts)  # equal parts: one compiled shape per bundle
            # constant-C specs keep their keys
            extra = {"follow_bound": True, "bound_relaxation": BOUND_RELAXATION} if follow == [True] else {}
            for i in range(0, len(runs), size):
                specs.append({**common, "grid": grid, "family": family, "batch_size": b, "runs": runs[i:i + size],
                              "part": i // size, **extra})
    protocol = {
        "name": config.name, "kind": "tabular", "settings": config.to_dict(),
        "grids": {k: v for k, v in (("clipping", config.clipping_grid), ("privacy", config.privacy_grid)) if v},
        "families": list(config.families), "seeds": list(config.seeds), "epochs": config.epochs,
        "delta": config.delta, "learning_rate": config.learning_rate, "lr_sigma": config.lr_sigma,
        "scaler": config.scaler, "headline_metric": config.headline_metric, "metric_notes": METRIC_NOTES,
        "sigmas": sigmas, "n_train": n, "n_val": len(splits.x_val), "n_test": len(splits.x_test),
        "data_meta": splits.meta,
    }
    if follows:
        protocol["bound_column"] = {
            "rule": "C_t = G(θ_t), the parameter-dependent gradient bound of the current parameters (quantum only; "
                    "sum-of-squares relaxation, its search carried from step to step); noise σ·C_t; learning rate: "
                    "the study's rule at C = G(θ_0)",
            "relaxation": BOUND_RELAXATION,
            "initial_bounds": [{"seed": s, "bound": g} for s, g in initial.items()]}
    return specs, protocol


@contextlib.contextmanager
def _quiet_absl():
    import logging

    logger = logging.getLogger("absl")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _run(family, c, seed, sigma, sigma_rdp, epsilon, lr, config) -> dict:
    k = None
    if family == "lipschitz":
        k = float(config.lipschitz_k) if config.lipschitz_k is not None else float(c)
    return {"max_grad_norm": c if c == FOLLOW_BOUND else float(c), "seed": int(seed), "noise_multiplier": float(sigma),
            "noise_multiplier_rdp": sigma_rdp, "epsilon": epsilon, "learning_rate": float(lr), "lipschitz_k": k}


def tabular_job_label(spec: dict) -> str:
    follow = "-bound" if spec.get("follow_bound") else ""
    return f"{spec['grid']}-{spec['family']}{follow}-B{spec['batch_size']}-part{spec['part']}"


# -- one job: a bundle of runs ---------------------------------------------------------------------
def _val_weights(n_val: int, batch_size: int, weighting: str):
    """Per-example weights of the validation accuracy: the notebook's mean over validation batches
    of size B of the per-batch accuracies (``batch-mean``; the last batch may be smaller), or the
    plain accuracy (``example``)."""
    import numpy as np

    if weighting == "example":
        return np.full(n_val, 1.0 / n_val)
    starts = range(0, n_val, batch_size)
    w = np.zeros(n_val)
    for s in starts:
        size = min(batch_size, n_val - s)
        w[s:s + size] = 1.0 / (len(starts) * size)
    return w


def _noise_seed(spec: dict, run: dict) -> int:
    """The reproducible noise seed of a run (``randomness = "seeded"``, an opt-in): derived from the
    run's family, grid, B and settings, so that no two runs of a study share a noise stream."""
    what = {"family": spec["family"], "grid": spec["grid"], "batch_size": spec["batch_size"], **run}
    return int(digest(what), 16) % (2**63)


def job_model(spec: dict, n_features: int, n_classes: int):
    from ..models.paper import build_paper_model

    if spec["family"] == "quantum":
        return build_paper_model("quantum", n_features=n_features, n_classes=n_classes, layers=spec["quantum_layers"])
    return build_paper_model(spec["family"], input_dim=n_features, n_classes=n_classes)


def run_tabular_job(spec: dict, work_dir: str | None, log) -> dict:
    """Train a job's bundle of runs (one vectorised program) and return ``{"row": {"rows": [...]}}``:
    one row per run, in the shape :func:`dpqml.report.tabular.write_tabular_report` reads."""
    import numpy as np

    from ..bounds import gradient_bound
    from ..data.classification import load_tabular
    from ..train.vectorized import RunSettings, train_runs

    t0 = time.perf_counter()
    splits = load_tabular(spec["data"], scaler=spec["scaler"], n_public=spec["n_public"])
    if splits.fingerprint != spec["data_fingerprint"]:
        raise RuntimeError("the data differ from the data the study was planned on (fingerprint mismatch)")
    n_classes = int(np.max(splits.y_train)) + 1
    model = job_model(spec, splits.x_train.shape[1], n_classes)
    b = spec["batch_size"]
    runs = [RunSettings(max_grad_norm=r["max_grad_norm"], noise_multiplier=r["noise_multiplier"],
                        learning_rate=r["learning_rate"], seed=r["seed"],
                        model_arg=r["lipschitz_k"] if r["lipschitz_k"] is not None else 1.0,
                        noise_seed=_noise_seed(spec, r) if spec["randomness"] == "seeded" else None)
            for r in spec["runs"]]
    weights = _val_weights(len(splits.x_val), b, spec["val_weighting"])
    log(f"training {len(runs)} run(s) of {spec['family']} at B={b} ({spec['grid']} grid), {spec['epochs']} epochs")

    def progress(done, total):
        log(f"epoch {done}/{total} ({time.perf_counter() - t0:.0f} s)")

    res = train_runs(model, runs, splits.x_train, splits.y_train, batch_size=b, epochs=spec["epochs"],
                     delta=spec["delta"], eval_sets={"val": (splits.x_val, splits.y_val, weights),
                                                     "test": (splits.x_test, splits.y_test)},
                     momentum=spec["momentum"], weight_decay=spec["weight_decay"], randomness=spec["randomness"],
                     checkpoint_dir=work_dir, checkpoint_every=spec["checkpoint_every"], progress=progress,
                     bound_relaxation=spec.get("bound_relaxation", BOUND_RELAXATION))
    seconds = time.perf_counter() - t0
    bound = gradient_bound(model).total if spec["family"] == "quantum" else None
    epochs = spec["epochs"]
    rows = []
    for i, r in enumerate(spec["runs"]):
        val = res.accuracy["val"][i]
        test = res.accuracy["test"][i]
        best = int(np.argmax(val[:epochs]))  # the notebook measures at the start of epochs 0..E-1
        if res.steps_spent[i] < res.steps_per_epoch * epochs:
            raise RuntimeError(f"run {i}: the ledger counts {res.steps_spent[i]} steps, fewer than were run")
        diag = [{"epoch": e, **{k: float(v[i, e]) for k, v in res.diagnostics.items()}} for e in range(epochs)]
        rows.append({
            "grid": spec["grid"], "family": spec["family"], "model": _model_name(spec["family"]),
            "seed": r["seed"], "epsilon": r["epsilon"], "delta": spec["delta"],
            "noise_multiplier": r["noise_multiplier"], "noise_multiplier_rdp": r["noise_multiplier_rdp"],
            "max_grad_norm": r["max_grad_norm"], "expected_batch_size": b, "sample_rate": res.meta["sample_rate"],
            "steps": res.meta["steps"], "steps_spent": res.steps_spent[i], "epochs": epochs,
            "learning_rate": r["learning_rate"], "lipschitz_k": r["lipschitz_k"],
            "best_val_accuracy": float(val[best]), "best_val_epoch": best,
            "test_accuracy": float(test[epochs]), "val_accuracy_by_epoch": [float(v) for v in val],
            "test_accuracy_by_epoch": [float(v) for v in test],
            "scaler": spec["scaler"],
            "preprocessing_covered_by_epsilon": splits.meta["preprocessing_covered_by_epsilon"],
            "preprocessing_note": splits.meta.get("preprocessing_note"),
            "epsilon_spent": res.epsilon[i], "n_train": len(splits.x_train), "n_val": len(splits.x_val),
            "n_test": len(splits.x_test), "n_params": res.n_params, "seconds": seconds / len(runs),
            "randomness": spec["randomness"], "gradient_bound": bound, "diagnostics_by_epoch": diag,
            **({"clip_at_init": r["clip_at_init"]} if "clip_at_init" in r else {}),
            "resumed_from_epoch": res.resumed_from_epoch,
            **({"noise_seed": runs[i].noise_seed} if spec["randomness"] == "seeded" else {}),
        })
    best_val = np.mean([x["best_val_accuracy"] for x in rows])
    last_test = np.mean([x["test_accuracy"] for x in rows])
    log(f"done: {len(rows)} run(s) in {seconds:.0f} s; mean best val {best_val:.3f}, mean last-epoch test "
        f"{last_test:.3f}")
    return {"row": {"kind": "tabular", "rows": rows}, "log": log.lines}


def _model_name(family: str) -> str:
    return {"quantum": "paper-quantum", "classical": "paper-mlp", "lipschitz": "paper-lipschitz"}[family]


# -- the sweep -------------------------------------------------------------------------------------
def run_tabular(config: TabularConfig, out_dir, *, executor: str = "local", workers: int | None = None,
                address: str | None = None, progress: bool = True, stream=None) -> dict:
    """Run (or resume) the tabular study ``config`` into ``out_dir``; returns a summary dict like
    :func:`dpqml.protocol.runner.run_protocol`'s. Bad settings raise ``ValueError`` before any job runs."""
    from ..report.tabular import write_tabular_report
    from ..train.checkpoint import directory_lock
    from .executors import make_executor
    from .runner import harvest_outcomes, output_directory, register_jobs
    from .store import ResultStore

    stream = stream or sys.stderr
    t0 = time.perf_counter()
    out = output_directory(out_dir)
    specs, protocol = plan(config)
    busy = f"another dpqml compare is running on {out}; wait for it or use another --out"
    with directory_lock(out, busy):
        store = ResultStore(out / "results.sqlite", config.fingerprint(), protocol)
        try:
            keys, tasks = register_jobs(store, out, specs)
            harvest_outcomes(store, tasks)  # jobs that finished before an earlier sweep was killed
            todo = [t for t in tasks if store.status(t[0]) != "done"]
            n_runs = sum(len(s["runs"]) for s in specs)
            sig = ", ".join(f"ε={s['epsilon']:g}: {s['noise_multiplier']:.3f} (RDP {s['noise_multiplier_rdp']:.3f})"
                            for s in protocol["sigmas"])
            runner = make_executor(executor, workers, address)
            print(f"dpqml compare ({config.name}): {n_runs} training runs in {len(specs)} jobs, "
                  f"{len(specs) - len(todo)} already done, {len(todo)} to run on {runner.description}"
                  + (f"; σ per ε at B={config.privacy_grid['batch_size']}: {sig}" if sig else ""), file=stream)
            failed = _drive(runner, store, todo, progress, stream, n_runs, specs)
            results = store.rows(keys)
        finally:
            store.close()
    rows = [row for res in results for row in res["rows"]]
    report = None
    if rows:
        from ..report.files import to_jsonable, write_csv, write_json

        write_json(rows, out / "results.json")
        write_csv(rows, out / "results.csv")
        (out / "protocol.json").write_text(json.dumps(to_jsonable(protocol), indent=1, allow_nan=False) + "\n")
        report = write_tabular_report(rows, protocol, out)
    return {"out": str(out), "report": str(report) if report else None, "jobs": len(specs),
            "ran": len(todo) - len(failed), "skipped": len(specs) - len(todo), "failed": failed,
            "runs": len(rows), "seconds": round(time.perf_counter() - t0, 1), "executor": runner.description}


def _drive(runner, store, todo, progress, stream, n_runs, specs) -> list[dict]:
    """Hand the jobs to the executor (:func:`dpqml.protocol.runner.dispatch`), longest first, one job per
    chunk, with a progress bar over training runs; returns the failed jobs."""
    from .runner import dispatch

    # seconds per run relative to an MLP run, measured on the paper-tabular preset (2 cores): a job's time is
    # nearly the same at every B (fewer, larger steps); only the order of the jobs depends on these figures
    cost = {"quantum": 7.0, "classical": 1.0, "lipschitz": 1.0}
    todo = sorted(todo, key=lambda t: -cost[t[1]["family"]] * len(t[1]["runs"]))
    task_of = {t[0]: t for t in todo}
    bar = None
    if progress:
        from tqdm.auto import tqdm

        done_runs = n_runs - sum(len(t[1]["runs"]) for t in todo)
        bar = tqdm(total=n_runs, initial=done_runs, unit="run", desc="runs", file=stream, dynamic_ncols=True)
    failed = []

    def commit(key, outcome):
        _, spec, _, log = task_of[key]
        if "row" in outcome:
            store.mark_done(key, outcome["row"])
        else:
            store.mark_failed(key, outcome.get("error", "unknown error"))
            failed.append({"job": key, "label": tabular_job_label(spec), "log": log})
        if bar:
            bar.set_postfix_str(tabular_job_label(spec), refresh=False)
            bar.update(len(spec["runs"]))

    dispatch(runner, store, [[t] for t in todo], commit, bar, stream, len(specs))
    return failed


def describe_plan(config: TabularConfig) -> dict:
    """``--show-config``: the whole study (every grid, family and setting) without training."""
    d = config.to_dict()
    d["kind"] = "tabular"
    d["runs_per_job"] = {f: RUNS_PER_JOB[f] for f in config.families}
    cells = 0
    if config.clipping_grid:
        cells += len(config.clipping_grid["max_grad_norm"]) * len(config.clipping_grid["batch_size"])
    runs = cells * len(config.families)
    if config.privacy_grid:
        clips = config.privacy_grid["max_grad_norm"]
        per_family = len(config.privacy_grid["epsilon"]) * len(clips)
        follow = len(config.privacy_grid["epsilon"]) * (FOLLOW_BOUND in clips)  # quantum only
        runs += per_family * len(config.families) - follow * (len(config.families) - 1)
    d["training_runs"] = runs * len(config.seeds)
    return d

