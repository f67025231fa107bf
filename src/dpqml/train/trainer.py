"""The DP-SGD trainer: where the stages of :mod:`dpqml.privacy` are joined, not re-implemented.

One logical step, for step index ``t``:

1. Poisson-sample the batch (each example with probability q; maybe empty);
2. cut it into fixed-shape physical batches (padding masked); for each: per-example gradients
   of *all* trainable parameters (one compiled computation), clip each to C, sum;
3. add Gaussian noise of std σC to the sum, once, and divide by the expected batch size qN;
4. one optax update.

The model is any object with ``init(key)``, ``loss(params, x, y)`` for ONE example and
``predict(params, x)`` (a :class:`~dpqml.models.QuantumModel`, a classical baseline, or a
:class:`FunctionModel` around the user's own functions). Since the loss sees one example at a
time, no statistic can cross examples.
"""

from __future__ import annotations

import functools
import hashlib
import math
import time
import warnings
import weakref
from dataclasses import asdict, dataclass, field

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

from ..diagnostics import DIAGNOSTICS_NOTE  # the wording every result file carries
from ..engine import PER_EXAMPLE_METHODS, make_per_example_grads
from ..engine.parameter_shift import check_shots, make_parameter_shift_grads, model_plan, parameter_shift_cost
from ..engine.sampled import make_trajectory_grads, trajectory_loss, trajectory_predict
from ..privacy.accounting import check_accounting_limits
from ..privacy.config import PrivacyConfig
from ..privacy.dpsgd import clip_and_sum, privatize
from ..privacy.ledger import PrivacyLedger
from ..privacy.randomness import REPRODUCIBLE_NOISE_WARNING, check_randomness, make_randomness
from ..privacy.sampling import padded_size, physical_batches
from ..quantum import check_memory
from ..quantum.memory import check_shift_memory
from ..quantum.simulate import check_trajectories
from ..validation import check_choice, check_scalar
from .checkpoint import CheckpointError, directory_lock, has_checkpoint, load_checkpoint, save_checkpoint

OPTIMIZERS = ("sgd", "adam", "momentum")
#: Per-example gradient methods: exact (:mod:`dpqml.engine.per_example`), from finite shots, or
#: from sampled noise trajectories.
TRAIN_METHODS = (*PER_EXAMPLE_METHODS, "parameter-shift", "trajectories")
#: The methods whose gradients come from random draws (a key per step, one per example by content).
SAMPLED_METHODS = ("parameter-shift", "trajectories")
#: Folded into ``PRNGKey(seed)`` for the measurement samples of finite-shot runs and the draws of
#: sampled trajectories (a stream of its own, apart from the initialisation and noise keys
#: ``split(PRNGKey(seed))``).
SHOT_STREAM = 0x5307
#: The setting each sampled method needs (and no other method takes): its method, check, what it
#: counts and what it is for.
_SAMPLE_SETTINGS = {
    "shots": ("parameter-shift", check_shots, "measurement samples per circuit evaluation", "finite-shot gradients"),
    "trajectories": ("trajectories", check_trajectories, "sampled trajectories per example and step",
                     "sampled noise trajectories"),
}
HARDWARE_COST_NOTE = (
    "circuit_executions and shots_total are expectations, q*N*T examples times the executions (shots) "
    "per example, from public settings only; the *_realized counts use the realised Poisson batch sizes and "
    "are diagnostics NOT covered by epsilon"
)
#: Quantiles of each epoch's per-example gradient norms kept in the history (for box plots).
NORM_QUANTILES = (0, 0.05, 0.25, 0.5, 0.75, 0.95, 1)


@dataclass(frozen=True)
class TrainConfig:
    """Settings of a training run that do not change the privacy guarantee.

    Attributes:
        learning_rate: optimizer step size (> 0).
        optimizer: ``"sgd"``, ``"momentum"`` (SGD with momentum 0.9) or ``"adam"``.
        max_physical_batch: largest number of examples whose gradients are held in memory at
            once; larger logical batches are accumulated (clip per example, sum, noise once).
        seed: seeds the parameter initialisation (and the measurement samples of finite shots).
            It does NOT seed the privacy mechanism: see ``randomness`` and ``noise_seed``.
        randomness: where Poisson sampling and the Gaussian noise draw from
            (:mod:`dpqml.privacy.randomness`): ``"secure"`` (the default: the OS's CSPRNG at every
            step, floating-point-hardened noise) or ``"fast"`` (JAX's generator under a secret seed
            from the OS, kept in the checkpoint only). Neither can be replayed from anything a result
            publishes.
        noise_seed: opt-in reproducible mechanism (``randomness="seeded"``): sampling and noise
            from this public seed. The guarantee does not hold against anyone who knows it, and
            every result of the run says so. For research and tests only.
        checkpoint_dir: where to checkpoint and keep the privacy ledger (``None``: nowhere).
        checkpoint_every: steps between checkpoints (default: one epoch, ``⌈1/q⌉`` steps).
        loss: the model's loss name (default: the model's default).
        progress: show a progress bar.
        method: per-example gradient method: ``"vmap"`` (default), ``"expand"`` or ``"loop"`` (exact
            gradients, :mod:`dpqml.engine.per_example`), or ``"parameter-shift"`` (quantum models: every
            circuit expectation estimated from ``shots`` samples, derivatives by the parameter-shift
            rule, :mod:`dpqml.engine.parameter_shift`), or ``"trajectories"`` (noisy quantum models:
            expectations averaged over ``trajectories`` sampled state vectors, unbiased,
            :mod:`dpqml.quantum.trajectories`; for registers too wide for density matrices).
        shots: measurement samples per circuit evaluation and Pauli term; required with
            ``method="parameter-shift"`` and refused otherwise.
        trajectories: sampled trajectories per example and step; required with
            ``method="trajectories"`` and refused otherwise.

    The samples (shots, trajectories) of step ``t`` draw from
    ``fold_in(fold_in(PRNGKey(seed), SHOT_STREAM), t)``, each example from a hash of its own
    content (:mod:`dpqml.engine.sampled`: its gradient then depends on it alone, as DP-SGD's
    sensitivity argument needs). They are reproducible whatever ``randomness`` is: they are not
    a privacy mechanism.
    """

    learning_rate: float = 0.05
    optimizer: str = "adam"
    max_physical_batch: int = 256
    seed: int = 0
    randomness: str | None = None
    noise_seed: int | None = None
    checkpoint_dir: str | None = None
    checkpoint_every: int | None = None
    loss: str | None = None
    progress: bool = False
    method: str = "vmap"
    shots: int | None = None
    trajectories: int | None = None

    def __post_init__(self):
        check_scalar(self.learning_rate, "learning_rate", low=0.0, low_open=True)
        check_choice(self.optimizer, "optimizer", OPTIMIZERS)
        check_scalar(self.max_physical_batch, "max_physical_batch", low=1, integer=True)
        check_scalar(self.seed, "seed", low=0, integer=True)
        if self.noise_seed is not None:
            check_scalar(self.noise_seed, "noise_seed", low=0, integer=True)
        if self.randomness is None:
            object.__setattr__(self, "randomness", "secure" if self.noise_seed is None else "seeded")
        check_randomness(self.randomness, self.noise_seed)
        if self.checkpoint_every is not None:
            check_scalar(self.checkpoint_every, "checkpoint_every", low=1, integer=True)
        check_choice(self.method, "method", TRAIN_METHODS)
        for name, (method, check, what, purpose) in _SAMPLE_SETTINGS.items():
            value = getattr(self, name)
            if self.method == method:
                if value is None:
                    raise ValueError(f"method={method!r} needs {name} (an integer >= 1: {what})")
                check(value)
            elif value is not None:
                raise ValueError(f"{name}={value!r} is only used with method={method!r} ({purpose}); got "
                                 f"method={self.method!r}: drop {name}, or set the method")

    def make_optimizer(self) -> optax.GradientTransformation:
        if self.optimizer == "sgd":
            return optax.sgd(self.learning_rate)
        if self.optimizer == "momentum":
            return optax.sgd(self.learning_rate, momentum=0.9)
        return optax.adam(self.learning_rate)

    def identity(self) -> dict:
        """The settings a resumed run must share with the run it resumes."""
        d = asdict(self)
        for k in ("checkpoint_dir", "progress"):
            d.pop(k)
        for k in ("shots", "trajectories"):
            if d[k] is None:  # as before these existed: older checkpoints still resume
                d.pop(k)
        return d


@dataclass
class FunctionModel:
    """A user's own model for the trainer: ``loss_fn(params, x, y)`` for ONE example (a scalar),
    and optionally ``predict_fn(params, x)`` (a class label) for accuracy. ``params`` is the
    initial pytree of real arrays, every leaf trainable."""

    loss_fn: object
    params: object
    predict_fn: object = None
    n_classes: int = 2
    input_dim: int | None = None
    family: str = "custom"

    def init(self, key, dtype=None):
        return self.params

    def loss(self, params, x, y, loss=None):
        return self.loss_fn(params, x, y)

    def predict(self, params, x):
        if self.predict_fn is None:
            raise ValueError("this FunctionModel has no predict_fn; accuracy cannot be computed")
        return self.predict_fn(params, x)


@dataclass
class TrainResult:
    """What a run produced. ``epsilon`` covers every step in the ledger; ``history`` and the
    train accuracy are diagnostics not covered by ε (:data:`DIAGNOSTICS_NOTE`)."""

    params: object
    privacy: PrivacyConfig
    steps: int
    steps_spent: int
    epsilon: float
    train_accuracy: float | None
    test_accuracy: float | None
    n_params: int
    history: list = field(default_factory=list)
    seconds: float = 0.0
    resumed_from: int = 0
    hardware_cost: dict | None = None
    randomness: str = "secure"
    noise_seed: int | None = None
    trajectories: int | None = None

    def to_dict(self) -> dict:
        """JSON-able summary (without the parameters). ``randomness`` names the mechanism's source of
        randomness; a reproducible run (``noise_seed``) adds the seed and
        ``reproducible_noise_warning``. Finite-shot runs add ``shots``, the expected
        ``circuit_executions`` and ``shots_total`` of a hardware run, and ``hardware_cost``
        (per-example counts, and the realised totals as diagnostics). Runs on sampled noise
        trajectories add ``trajectories`` (per example and step)."""
        p = self.privacy
        out = {
            "epsilon": _json_float(self.epsilon), "delta": p.delta, "noise_multiplier": p.noise_multiplier,
            "max_grad_norm": p.max_grad_norm, "sample_rate": p.sample_rate,
            "expected_batch_size": p.expected_batch_size, "steps": self.steps, "steps_spent": self.steps_spent,
            "accountant": p.accountant, "n_examples": p.n_examples, "n_params": self.n_params,
            "test_accuracy": self.test_accuracy, "train_accuracy": self.train_accuracy,
            "seconds": round(self.seconds, 3), "resumed_from": self.resumed_from,
            "randomness": self.randomness, "diagnostics_note": DIAGNOSTICS_NOTE, "history": self.history,
        }
        if self.trajectories is not None:
            out["trajectories"] = self.trajectories
        if self.noise_seed is not None:
            out.update({"noise_seed": self.noise_seed, "reproducible_noise_warning": REPRODUCIBLE_NOISE_WARNING})
        if self.hardware_cost is not None:
            hc = self.hardware_cost
            out.update({"shots": hc["per_example"]["shots"], "circuit_executions": hc["circuit_executions"],
                        "shots_total": hc["shots_total"], "hardware_cost": hc})
        return out


def hardware_cost(cost, privacy: PrivacyConfig, history) -> dict:
    """What a hardware run of a finite-shot training run needs (:class:`~dpqml.engine.ShotCost` ``cost``).

    Headline (public): the expected count over ``T`` steps, ``q·N·T`` examples times the
    executions (shots) per example. Diagnostic (not covered by ε, it reveals the realised Poisson
    batch sizes): the same from the examples the run actually sampled, ``Σ_t |B_t|`` (the history's
    ``examples_seen``; steps lost in a crash and redone are counted once).
    """
    expected = privacy.expected_batch_size * privacy.steps
    seen = sum(int(rec.get("examples_seen", 0)) for rec in history)
    return {
        "per_example": cost.to_dict(), "expected_examples": expected,
        "circuit_executions": expected * cost.executions_per_example,
        "shots_total": expected * cost.shots_per_example,
        "circuit_executions_realized": seen * cost.executions_per_example,
        "shots_total_realized": seen * cost.shots_per_example, "note": HARDWARE_COST_NOTE,
    }


def _json_float(v):
    return None if v is None else (v if math.isfinite(v) else "inf")


# -- validation ---------------------------------------------------------------------------------
def check_training_memory(model, max_physical_batch: int, n_examples: int, *, double: bool = False, cost=None,
                          batch_setting: str = "--physical-batch-size on the command line",
                          trajectories: int | None = None) -> None:
    """Refuse, before any work, a circuit whose simulation for the largest physical batch cannot
    fit in this machine's memory (:func:`dpqml.quantum.check_memory` says how much it would need).

    The largest physical batch is ``padded_size(n_examples, max_physical_batch)``; ``cost`` (a
    parameter-shift :class:`~dpqml.engine.ShotCost`) multiplies it by the shifted evaluations,
    ``trajectories`` (sampled trajectories per example) by the trajectories.
    ``batch_setting`` says in the message where ``max_physical_batch`` is set. Models without a
    ``circuit`` pass. Raises ``MemoryError`` with the estimate and how to shrink the batch."""
    circuit = getattr(model, "circuit", None)
    if circuit is None:
        return
    batch = padded_size(n_examples, max_physical_batch)  # the largest physical batch
    try:
        if cost is not None:  # parameter shift: every shifted evaluation of every example at once, no AD
            check_shift_memory(circuit, batch, cost.circuit_evaluations, double=double)
        elif trajectories is not None:
            check_memory(circuit, batch * trajectories, double=double, method="trajectories")
        else:
            check_memory(circuit, batch, double=double, method=getattr(model, "method", "auto"))
    except MemoryError as exc:
        raise MemoryError(f"{exc} (the physical batch is max_physical_batch={max_physical_batch}, "
                          f"{batch_setting}, or the training set size if smaller"
                          + (f", times {trajectories} trajectories" if trajectories else "")
                          + ")") from None


def _real_params(params) -> None:
    for path, leaf in jax.tree_util.tree_leaves_with_path(params):
        dt = jnp.asarray(leaf).dtype
        if not jnp.issubdtype(dt, jnp.floating):
            raise ValueError(
                f"trainable parameter {jax.tree_util.keystr(path)} has dtype {dt}; trainable parameters must be "
                "real floating point (complex parameters would get noise of the wrong scale)"
            )


def _no_cross_example_state(params) -> None:
    def keys(tree, prefix=""):
        if isinstance(tree, dict):
            for k, v in tree.items():
                yield f"{prefix}{k}"
                yield from keys(v, f"{prefix}{k}/")

    for k in keys(params):
        if k.split("/")[-1] in ("batch_stats", "running_mean", "running_var", "moving_mean", "moving_variance"):
            raise ValueError(
                f"the model's parameters hold {k!r}, a statistic shared across examples (batch norm); "
                "it breaks per-example privacy: use a model without cross-example layers"
            )


def validate_data(x, y, *, n_classes: int, input_dim: int | None, name: str, dtype=np.float32):
    """Boundary checks of a labelled set; returns NumPy features of ``dtype`` and int32 labels."""
    x = np.asarray(x)
    y = np.asarray(y)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"{name} features must be a non-empty (n_examples, n_features) array; got shape {x.shape}")
    if input_dim is not None and x.shape[1] != input_dim:
        raise ValueError(f"{name} features have {x.shape[1]} columns; the model takes input_dim={input_dim}")
    if not np.all(np.isfinite(x)):
        bad = int(np.sum(~np.isfinite(x).all(axis=1)))
        raise ValueError(f"{name} features have NaN or infinite values in {bad} example(s); features must be finite")
    if y.shape != (x.shape[0],):
        raise ValueError(f"{name} labels must have shape ({x.shape[0]},); got {y.shape}")
    if not np.all(np.equal(np.mod(y, 1), 0)) or y.min() < 0 or y.max() >= n_classes:
        raise ValueError(
            f"{name} labels must be integers in [0, {n_classes - 1}] (n_classes={n_classes}); "
            f"got values in [{y.min()}, {y.max()}]"
        )
    return x.astype(dtype, copy=False), y.astype(np.int32)


# -- the compiled pieces -------------------------------------------------------------------------
def _predictor(model, trajectories=None):
    """The model's ``predict(params, x)``, or None when it has none (accuracy is then not reported).
    Runs on sampled trajectories predict from them too (wide noisy circuits have no exact simulation)."""
    if isinstance(model, FunctionModel) and model.predict_fn is None:
        return None
    if trajectories is not None:
        return trajectory_predict(model, trajectories)
    return getattr(model, "predict", None)


def _make_clipped_sum(model, loss_name, method, shots=None, trajectories=None):
    """``clipped_sum(params, x, y, mask, max_grad_norm, key=None)``: the clipped per-example gradients of a
    physical batch, summed, with the batch's loss sum and clipping statistics (one compiled call).
    ``key`` seeds the draws of the sampled methods (:data:`SAMPLED_METHODS`; exact methods need none)."""

    if method in SAMPLED_METHODS:
        sampled = (make_parameter_shift_grads(model, shots, loss_name) if method == "parameter-shift"
                   else make_trajectory_grads(model, trajectories, loss_name))

        def per_example(params, x, y, key):
            if key is None:
                raise ValueError(f"method={method!r} needs a PRNG key for its samples")
            return sampled(params, x, y, key)
    else:
        def loss_fn(params, x, y):
            return model.loss(params, x, y, loss_name) if loss_name else model.loss(params, x, y)

        exact = make_per_example_grads(loss_fn, method)

        def per_example(params, x, y, key):
            return exact(params, x, y)

    predict = _predictor(model, trajectories if method == "trajectories" else None)

    @jax.jit
    def clipped_sum(params, x, y, mask, max_grad_norm, key=None):
        losses, grads = per_example(params, x, y, key)
        summed, stats = clip_and_sum(grads, max_grad_norm, mask)
        if predict is not None:  # a diagnostic: accuracy on the examples the step sampled
            hits = jax.vmap(predict, in_axes=(None, 0))(params, x) == y
            stats["correct"] = jnp.where(mask > 0, hits, False).sum()
        return summed, jnp.sum(jnp.where(mask > 0, losses, 0.0)), stats

    return clipped_sum


def _make_update(optimizer, unravel):
    """``update(params, opt_state, summed, noise, expected_batch)``: privatize, then one optimizer step."""

    @jax.jit
    def update(params, opt_state, summed, noise, expected_batch):
        grad = unravel(privatize(summed, noise, expected_batch))
        updates, opt_state = optimizer.update(grad, opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    return update


# Compiled pieces per model object, so that repeated runs of one model (seeds, budgets, a sweep's
# jobs in one worker) trace and compile once. Entries go when the model is garbage collected.
_COMPILED: dict[int, tuple[weakref.ref, dict]] = {}


def _compiled(model, what: tuple, make):
    key, entries = id(model), _COMPILED  # the dict itself: at interpreter exit the module global may be gone
    try:
        ref = weakref.ref(model, lambda _: entries.pop(key, None))
    except TypeError:  # not weak-referenceable: no caching
        return make()
    entry = _COMPILED.get(key)
    if entry is None or entry[0]() is not model:
        entry = _COMPILED[key] = (ref, {})
    cache = entry[1]
    if what not in cache:
        cache[what] = make()
    return cache[what]


def _accuracy(model, params, x, y, chunk=256, trajectories=None):
    """Accuracy over ``x`` in chunks of one padded shape (one compilation for any set size)."""
    pred = _compiled(model, ("predict", trajectories),
                     lambda: jax.jit(jax.vmap(_predictor(model, trajectories), in_axes=(None, 0))))
    hits = 0
    for i in range(0, len(x), chunk):
        xb, yb = x[i:i + chunk], y[i:i + chunk]
        pad = chunk - len(xb)
        if pad:
            xb = np.concatenate([xb, np.repeat(xb[:1], pad, axis=0)])
        hits += int(np.sum(np.asarray(pred(params, xb))[:len(yb)] == yb))
    return hits / len(x)


# -- the loop ------------------------------------------------------------------------------------
def train(model, x_train, y_train, privacy: PrivacyConfig, config: TrainConfig | None = None, *,
          x_test=None, y_test=None, params=None, log=None, on_step=None) -> TrainResult:
    """Train ``model`` with DP-SGD under ``privacy`` (see the module docstring).

    Args:
        model: a quantum, hybrid or classical model, or a :class:`FunctionModel`.
        x_train, y_train: the private training set, ``(N, input_dim)`` and ``(N,)`` integer labels;
            ``N`` must equal ``privacy.n_examples``.
        privacy: the run's :class:`PrivacyConfig` (σ, C, q, T, δ).
        config: :class:`TrainConfig` (optimizer, physical batch, seed, randomness, checkpoints, ...).
        x_test, y_test: optional held-out set for the test accuracy.
        params: initial parameters (default: ``model.init(PRNGKey(seed))``).
        log: optional ``callable(dict)`` called with each epoch's record.
        on_step: optional ``callable(step, params)`` called after every step with the released
            parameters ``θ_{t+1}`` (post-processing of the mechanism's output: the white-box audit
            observes every iterate of one run this way).

    Returns:
        :class:`TrainResult`. With ``config.checkpoint_dir`` the run checkpoints every
        ``checkpoint_every`` steps and resumes from the last checkpoint when called again; the
        ledger there counts every step ever taken, and a missing or shortened ledger, a damaged
        checkpoint, other training data or a second run on the same directory are refused.

    Raises:
        ValueError: bad input, before any work (a :class:`~dpqml.train.checkpoint.CheckpointError` or
            :class:`~dpqml.privacy.ledger.LedgerError` for a checkpoint directory that cannot be resumed).
        MemoryError: a circuit whose largest physical batch cannot be simulated here.
        TrainingDivergedError: the parameters became NaN or infinite (the steps taken still count).
    """
    config = config or TrainConfig()
    run = _prepare(model, x_train, y_train, privacy, config, x_test, y_test, params)
    if config.checkpoint_dir is None:
        return _run(model, run, privacy, config, log, on_step)
    busy = (f"another training run is using the checkpoint directory {config.checkpoint_dir}; wait for it to end, "
            "or use another directory")
    with directory_lock(config.checkpoint_dir, busy):
        return _run(model, run, privacy, config, log, on_step)


@dataclass
class _Run:
    """A validated run: data in the parameters' dtype, initial parameters and what the loop needs."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray | None
    y_test: np.ndarray | None
    params: object
    cost: object
    key: jax.Array


def check_inputs(model, x_train, y_train, config: TrainConfig, *, x_test=None, y_test=None, params=None):
    """Every check of the model and data that needs no privacy configuration (so that
    :func:`~dpqml.train.train_private` can make them before calibrating σ); returns a ``_Run``."""
    n_classes = getattr(model, "n_classes", 2)
    input_dim = getattr(model, "input_dim", None)
    key = jax.random.PRNGKey(config.seed)
    cost = None
    if config.method == "parameter-shift":  # refuse a model without a shiftable circuit before any work
        model_plan(model)
        cost = parameter_shift_cost(model, config.shots)
    elif config.method == "trajectories":  # refuse a model without a noisy circuit before any work
        trajectory_loss(model, config.trajectories, config.loss)
    params = model.init(jax.random.split(key)[0]) if params is None else params
    _real_params(params)
    _no_cross_example_state(params)
    dtype = ravel_pytree(params)[0].dtype
    x_train, y_train = validate_data(x_train, y_train, n_classes=n_classes, input_dim=input_dim, name="training",
                                     dtype=dtype)
    if x_test is not None:
        x_test, y_test = validate_data(x_test, y_test, n_classes=n_classes, input_dim=input_dim, name="test",
                                       dtype=dtype)
    _check_loss_on_one_example(model, params, x_train[0], y_train[0], config.loss)
    check_training_memory(model, config.max_physical_batch, len(x_train), double=dtype == jnp.float64, cost=cost,
                          trajectories=config.trajectories)
    _check_finite_in(dtype, ("learning_rate", "learning_rate", config.learning_rate))
    return _Run(x_train, y_train, x_test, y_test, params, cost, key)


def _prepare(model, x_train, y_train, privacy, config, x_test, y_test, params) -> _Run:
    run = check_inputs(model, x_train, y_train, config, x_test=x_test, y_test=y_test, params=params)
    n = len(run.x_train)
    if privacy.n_examples != n:
        raise ValueError(f"privacy.n_examples={privacy.n_examples} but the training set has {n} examples")
    if privacy.private:  # ε is computed after training: refuse now what the accountant could not do then
        check_accounting_limits(privacy.sample_rate, privacy.noise_multiplier, privacy.steps, delta=privacy.delta,
                                accountant=privacy.accountant, neighboring=privacy.neighboring)
    clip = privacy.max_grad_norm
    if not privacy.clips_at_constant:  # C_t = G(θ_t): refuse a model without that bound before any work
        clip = _bound_following_clip(model, run.params, config.loss)
    _check_finite_in(run.x_train.dtype,
                     ("max_grad_norm", "max_grad_norm * n_examples (the largest clipped sum)", clip * n),
                     ("noise_multiplier", "noise_multiplier * max_grad_norm (the noise std)",
                      privacy.noise_std_at(clip)))
    return run


@functools.lru_cache(maxsize=8)
def _compiled_bound(model, x64: bool):
    from ..bounds.compiled import compiled_parameter_bound

    return jax.jit(compiled_parameter_bound(model, dtype=jnp.float64 if x64 else jnp.float32))


def _bound_following_clip(model, params, loss) -> float:
    """``C_t = G(θ_t)`` for ``max_grad_norm="bound"``: the parameter-dependent bound of
    :func:`dpqml.bounds.parameter_bound`, from the current parameters alone (never the data). The
    paper's model takes its compiled form (:mod:`dpqml.bounds.compiled`: the same bound within
    0.3%, about 40 ms a step instead of 0.6-0.9 s)."""
    from ..bounds.parametric import parameter_bound
    from ..models.paper import PaperQuantumModel

    if isinstance(model, PaperQuantumModel) and loss in (None, model.default_loss):
        return float(_compiled_bound(model, bool(jax.config.jax_enable_x64))(params["theta"])[0])
    try:
        return parameter_bound(model, params, loss=loss).total
    except ValueError as exc:
        raise ValueError(f"max_grad_norm='bound' needs the parameter-dependent gradient bound: {exc}") from None


def _check_loss_on_one_example(model, params, x, y, loss_name) -> None:
    """Trace the model's loss on one training example (no computation): a loss that does not accept
    the data's shape, or does not return a scalar, is refused before any work, in words."""
    def loss(p, xi, yi):
        return model.loss(p, xi, yi, loss_name) if loss_name else model.loss(p, xi, yi)

    try:
        out = jax.eval_shape(loss, params, x, y)
    except Exception as exc:  # noqa: BLE001 - whatever the user's function raised, said at the boundary
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ValueError(f"the model's loss fails on one training example (features of shape {x.shape}, "
                         f"{x.dtype}): {type(exc).__name__}: {first}; check the model's input_dim against the "
                         "data's number of features") from None
    if getattr(out, "shape", None) != ():
        raise ValueError(f"the model's loss must return a scalar for one example; it returned shape "
                         f"{getattr(out, 'shape', type(out).__name__)}")


def _check_finite_in(dtype, *checks: tuple[str, str, float]) -> None:
    """Refuse settings that overflow the parameters' floating-point type (they would train NaNs):
    each check is ``(parameter, the quantity in words, its value)``."""
    largest = float(jnp.finfo(dtype).max)
    for name, what, value in checks:
        if not abs(value) <= largest:
            raise ValueError(f"{name} is too large: {what} = {value:g} overflows the parameters' "
                             f"{np.dtype(dtype).name} (largest finite value {largest:.3g})")


class TrainingDivergedError(ArithmeticError):
    """The parameters became NaN or infinite during training."""


def _data_fingerprint(x: np.ndarray, y: np.ndarray) -> str:
    """A hash of the training set, kept in the checkpoint (as secret as the data) to refuse resuming
    a run on other data."""
    h = hashlib.sha256()
    for a in (x, y):
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def _resume(ckpt, run: _Run, opt_state, config: TrainConfig, fingerprint: str):
    """``(params, opt_state, start, history, steps proven spent, saved mechanism state)`` from the
    checkpoint in ``ckpt``, or the fresh start when there is none."""
    if not has_checkpoint(ckpt):
        return run.params, opt_state, 0, [], None, None
    (params, opt_state), meta = load_checkpoint(ckpt, (run.params, opt_state))
    if meta["train_config"] != config.identity():
        raise CheckpointError(f"the checkpoint in {ckpt} was written with other training settings "
                              f"({meta['train_config']}); use a new checkpoint directory")
    if meta.get("data_fingerprint", fingerprint) != fingerprint:
        raise CheckpointError(f"the checkpoint in {ckpt} was written for another training set (its fingerprint "
                              "differs from this data's); resume with the same data, or use a new checkpoint "
                              "directory")
    start = int(meta["step"])
    return params, opt_state, start, list(meta["history"]), max(start, int(meta["steps_spent"])), \
        meta.get("mechanism")


def _run(model, run: _Run, privacy: PrivacyConfig, config: TrainConfig, log, on_step=None) -> TrainResult:
    params, cost = run.params, run.cost
    x_train, y_train = run.x_train, run.y_train
    flat0, unravel = ravel_pytree(params)
    shot_key = jax.random.fold_in(run.key, SHOT_STREAM)
    optimizer = config.make_optimizer()
    opt_state = optimizer.init(params)
    n, n_params = len(x_train), int(flat0.size)
    T, q = privacy.steps, privacy.sample_rate
    steps_per_epoch = max(1, round(1.0 / q))
    every = config.checkpoint_every or steps_per_epoch

    # Resume (after every check, so bad input never touches a saved run).
    ckpt = config.checkpoint_dir
    fingerprint = _data_fingerprint(x_train, y_train)
    params, opt_state, start, history, proven, saved = _resume(ckpt, run, opt_state, config, fingerprint)
    ledger = PrivacyLedger(privacy, ckpt, at_least=proven)
    if proven is None and ledger.steps_spent:
        warnings.warn(f"{ledger.path} records {ledger.steps_spent} steps already spent, and there is no checkpoint "
                      "to resume from: training starts again at step 0, and epsilon covers the earlier steps too",
                      stacklevel=3)
    randomness = make_randomness(config.randomness, noise_seed=config.noise_seed, saved=saved)
    clipped_sum = _compiled(model, ("clipped_sum", config.loss, config.method, config.shots, config.trajectories),
                            lambda: _make_clipped_sum(model, config.loss, config.method, config.shots,
                                                      config.trajectories))
    sampled = config.method in SAMPLED_METHODS
    follow = not privacy.clips_at_constant  # max_grad_norm="bound": C_t = G(θ_t), new every step
    if not follow:
        clip = privacy.max_grad_norm
        max_grad_norm = jnp.asarray(clip, flat0.dtype)

    layout = (jax.tree_util.tree_structure(params), tuple(jnp.shape(v) for v in jax.tree_util.tree_leaves(params)),
              str(flat0.dtype))
    update = _compiled(model, ("update", config.optimizer, config.learning_rate, layout),
                       lambda: _make_update(optimizer, unravel))
    expected_batch = jnp.asarray(privacy.expected_batch_size, flat0.dtype)
    zero = jnp.zeros((n_params,), flat0.dtype)
    bar = _progress(T, start, config.progress)
    t0 = time.perf_counter()
    epoch = _EpochStats()
    block_start = start
    while block_start < T:
        block = min(every, T - block_start)
        ledger.reserve(block, block_start)  # written down before the steps run
        for step in range(block_start, block_start + block):
            idx = randomness.sample(n, q, step)
            if follow:  # from the released parameters alone: post-processing, no privacy cost
                clip = _bound_following_clip(model, params, config.loss)
                max_grad_norm = jnp.asarray(clip, flat0.dtype)
                epoch.clips.append(clip)
            summed = jnp.zeros((n_params,), flat0.dtype)
            # sampled methods: one key per step, each example's draws from its own content (not its batch)
            step_key = jax.random.fold_in(shot_key, step) if sampled else shot_key  # exact methods ignore it
            for b_idx, mask in physical_batches(idx, config.max_physical_batch):
                # gathered on the host: cheaper than an indexing op on the device per batch
                s, loss_sum, stats = clipped_sum(params, x_train[b_idx], y_train[b_idx], mask, max_grad_norm,
                                                 step_key)
                summed = summed + s
                epoch.add(float(loss_sum), stats, mask)
            noise_std = privacy.noise_std_at(clip)  # σ·C, or σ·C_t when the threshold follows the bound
            noise = randomness.noise(step, n_params, noise_std, flat0.dtype) if privacy.private else zero
            params, opt_state = update(params, opt_state, summed, noise, expected_batch)
            if on_step is not None:
                on_step(step, params)
            epoch.steps += 1
            done = step + 1
            if done % steps_per_epoch == 0 or done == T:
                rec = epoch.record(len(history) + 1, done, ledger.steps_spent, privacy)
                history.append(rec)
                if log:
                    log(rec)
                epoch = _EpochStats()
                if bar:
                    bar.set_postfix(loss=rec["loss"], acc=rec["accuracy"], eps=rec["epsilon_spent"])
            if bar:
                bar.update(1)
        block_start = done
        _check_diverged(params, done, ledger, config)  # before a checkpoint could keep NaN parameters
        if ckpt is not None:
            meta = {"step": done, "history": history, "train_config": config.identity(),
                    "privacy": privacy.to_dict(), "steps_spent": ledger.steps_spent, "data_fingerprint": fingerprint}
            if randomness.state() is not None:
                meta["mechanism"] = randomness.state()
            save_checkpoint(ckpt, (params, opt_state), meta)
    if bar:
        bar.close()
    if ledger.steps_spent > T:
        warnings.warn(
            f"the ledger counts {ledger.steps_spent} steps for a run of {T}: steps lost in an interrupted run were "
            "redone; the reported epsilon covers all of them and exceeds the planned one", stacklevel=3)
    train_acc = test_acc = None
    if _predictor(model) is not None:
        train_acc = _accuracy(model, params, x_train, y_train, trajectories=config.trajectories)
        if run.x_test is not None:
            test_acc = _accuracy(model, params, run.x_test, run.y_test, trajectories=config.trajectories)
    return TrainResult(params=params, privacy=privacy, steps=T, steps_spent=ledger.steps_spent,
                       epsilon=ledger.epsilon(), train_accuracy=train_acc, test_accuracy=test_acc,
                       n_params=n_params, history=history, seconds=time.perf_counter() - t0, resumed_from=start,
                       hardware_cost=None if cost is None else hardware_cost(cost, privacy, history),
                       trajectories=config.trajectories,
                       randomness=randomness.name, noise_seed=config.noise_seed)


def _check_diverged(params, step: int, ledger: PrivacyLedger, config: TrainConfig) -> None:
    if all(bool(np.all(np.isfinite(np.asarray(v)))) for v in jax.tree_util.tree_leaves(params)):
        return
    eps = ledger.epsilon()
    raise TrainingDivergedError(
        f"training diverged: the parameters became NaN or infinite by step {step}; nothing was saved from this "
        f"point. Lower the learning rate (learning_rate={config.learning_rate:g}), the clip norm or the noise. "
        f"The {ledger.steps_spent} steps taken still count: epsilon spent {eps:.4g}")


class _EpochStats:
    """Per-epoch diagnostics (not covered by ε): mean loss, accuracy on the sampled examples
    (before each step's update), per-example gradient norms, clipped fraction."""

    def __init__(self):
        self.loss = 0.0
        self.count = 0
        self.steps = 0
        self.norms = []
        self.clipped = 0
        self.nonfinite = 0
        self.correct = None
        self.clips = []  # C_t of each step with max_grad_norm="bound"

    def add(self, loss_sum, stats, mask):
        real = np.asarray(mask) > 0
        self.loss += loss_sum
        self.count += int(real.sum())
        self.norms.append(np.asarray(stats["norms"])[real])
        self.clipped += int(np.asarray(stats["clipped"])[real].sum())
        if "correct" in stats:
            self.correct = (self.correct or 0) + int(stats["correct"])
        self.nonfinite += int(np.asarray(stats["nonfinite"])[real].sum())

    def record(self, epoch, step, steps_spent, privacy):
        norms = np.concatenate(self.norms) if self.norms else np.zeros(0)
        finite = norms[np.isfinite(norms)]
        rec = {
            "epoch": epoch, "step": step, "epsilon_spent": _json_float(privacy.epsilon(steps_spent)),
            "loss": self.loss / self.count if self.count else None,
            "accuracy": self.correct / self.count if self.count and self.correct is not None else None,
            "examples_seen": self.count,
            "grad_norm_mean": float(finite.mean()) if finite.size else None,
            "grad_norm_median": float(np.median(finite)) if finite.size else None,
            "grad_norm_max": float(finite.max()) if finite.size else None,
            "grad_norm_quantiles": (dict(zip(map(str, NORM_QUANTILES), np.quantile(finite, NORM_QUANTILES).tolist()))
                                    if finite.size else None),
            "clipped_fraction": self.clipped / self.count if self.count else 0.0,
            "nonfinite_gradients": self.nonfinite,
        }
        if self.clips:  # the thresholds that followed the parameters (public: computed from θ_t alone)
            rec["clip_threshold"] = {"min": min(self.clips), "mean": float(np.mean(self.clips)), "max": max(self.clips)}
        if self.nonfinite:
            warnings.warn(f"{self.nonfinite} per-example gradient(s) in epoch {epoch} were NaN or infinite; "
                          "they were zeroed (not used) and counted", stacklevel=3)
        return rec


def _progress(total, start, enabled):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=start, unit="step", desc="DP-SGD", leave=True)
