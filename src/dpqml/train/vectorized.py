"""Many DP-SGD runs of one model at once: one compiled program, vectorised over runs.

A sweep trains the same model on the same data many times: over seeds, and over cells of a grid
that differ only in scalars (the clip threshold C, the noise multiplier σ, the learning rate,
a Lipschitz constant K). With the expected batch size B and the number of epochs equal, those runs
are one program: :func:`train_runs` stacks their parameters along a leading axis and ``vmap``-s one
epoch of DP-SGD over it, so XLA compiles once and every step advances every run.

Each run is a complete, independent DP-SGD run, exactly as :func:`dpqml.train.train` would do it:

* **Poisson sampling** with rate ``q = B / N``: each of the N training examples joins a step's
  batch independently; the batch is gathered in fixed-shape chunks (a loop runs as many chunks as
  the drawn batch needs, so no example is ever dropped, and an empty batch still adds noise);
* **per-example clipping** of the flat gradient of all trainable parameters to ``C`` (a
  non-finite per-example gradient is zeroed and counted);
* **Gaussian noise** of standard deviation ``σ·C`` added to the sum, which is divided by the
  expected batch size ``B`` (a public constant), never by the drawn one;
* **SGD with momentum and weight decay** as PyTorch's ``SGD`` does it (the decay ``λθ`` added to
  the privatised gradient, then ``v ← μ v + g``, ``θ ← θ − η v``): post-processing of the
  privatised gradient, so it costs no privacy.

Randomness: every run draws its batches and noise from its own key. ``randomness="fast"`` (the
default here) makes that key from 64 secret bits of the operating system's generator; nothing
published can replay it (the secret is kept only in the checkpoint). ``randomness="seeded"``
derives it from an explicit ``noise_seed`` per run (reproducible, labelled, never a default).

Nothing is lost: with ``checkpoint_dir``, the runs checkpoint every ``checkpoint_every`` epochs,
and each run has a privacy ledger (``runs/<i>/ledger.jsonl``) that reserves a block of steps
*before* the block runs; an interrupted call resumes from the last checkpoint and every run's ε
covers every step ever taken (the lost block included). When the call completes, the checkpoint
(which holds the runs' secret keys) is deleted and the ledgers stay: calling again with the same
directory trains anew, and the ledgers go on counting.

Evaluation: at the start of every epoch (so the untrained model counts, as in the paper's
notebook) and after the last one, each run's accuracy on the given evaluation sets.
Diagnostics per epoch (computed on private data, NOT covered by ε): clipped fraction, mean and
max per-example gradient norm, the clipping bias ‖mean clipped − mean unclipped gradient‖ and the
cosine between the two (averaged over the epoch's steps), and the loss gap between a clipped and
an unclipped step at the epoch's first step. Also per epoch: the clip threshold's mean and largest
value over the steps (C itself, or ``C_t`` for runs that follow the bound; those are functions of
the released iterates only).

``max_grad_norm="bound"`` (every run of the call, the paper's quantum model): each step clips at
``C_t = G(θ_t)``, evaluated inside the compiled step from the current parameters (and, with the
default ``bound_relaxation="sos"``, the search state the earlier parameters left:
:func:`dpqml.bounds.compiled.compiled_tracked_bound`; ``"pairings"``:
:func:`dpqml.bounds.compiled.compiled_parameter_bound`), and adds noise ``σ·C_t``; since ``C_t``
bounds every per-example gradient, clipping never changes one, and the accounting is that of any
Gaussian mechanism with noise multiplier σ (``docs/privacy.md``).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from ..models.task import per_example_loss, predicted_class
from ..privacy import entropy
from ..privacy.config import FOLLOW_BOUND, PrivacyConfig
from ..privacy.dpsgd import flatten_per_example, gaussian_noise, privatize
from ..privacy.ledger import PrivacyLedger
from ..validation import check_choice, check_scalar
from .checkpoint import CheckpointError

VECTORIZED_RANDOMNESS = ("fast", "seeded")
DIAGNOSTIC_KEYS = ("clipped_fraction", "mean_grad_norm", "max_grad_norm_observed", "clipping_bias_norm",
                   "clipping_cosine", "loss_gap", "clip_threshold_mean", "clip_threshold_max")
N_STATS = 10  # per step: see _make_epoch's ``stats``
STATE_FILE = "runs_state.npz"
META_FILE = "runs_state.json"


@dataclass(frozen=True)
class RunSettings:
    """The scalars of one run: ``max_grad_norm`` (C, or ``"bound"``: each step clips at
    ``C_t = G(θ_t)``, the parameter-dependent gradient bound, which never clips; the paper's quantum
    model only, :func:`dpqml.bounds.compiled.compiled_parameter_bound`), ``noise_multiplier`` (σ, 0 for none),
    ``learning_rate``, ``seed`` (the initialisation), ``model_arg`` (a per-run model constant such
    as a Lipschitz K; ignored by models without one), ``noise_seed`` (only with
    ``randomness="seeded"``)."""

    max_grad_norm: float | str
    noise_multiplier: float
    learning_rate: float
    seed: int
    model_arg: float = 1.0
    noise_seed: int | None = None


@dataclass
class RunsResult:
    """What :func:`train_runs` returns, one entry per run (in the order of ``runs``).

    ``accuracy[name]``: ``(R, epochs + 1)``: entry ``e < epochs`` at the start of epoch ``e``, the
    last after the final epoch. ``diagnostics[key]``: ``(R, epochs)``. ``epsilon``: ε covering
    every step in each run's ledger. ``steps_spent``: the ledger's steps. ``params``: ``(R, P)``.
    """

    accuracy: dict[str, np.ndarray]
    diagnostics: dict[str, np.ndarray]
    epsilon: list[float]
    steps_spent: list[int]
    params: np.ndarray
    n_params: int
    steps_per_epoch: int
    resumed_from_epoch: int = 0
    meta: dict = field(default_factory=dict)


def _model_apply(model) -> Callable:
    """``apply(params, x, arg)``: the model's output for one example; ``arg`` is the run's
    ``model_arg`` for models that take one (``apply_k``), else ignored."""
    if hasattr(model, "apply_k"):
        return model.apply_k
    return lambda params, x, arg: model.apply(params, x)


def physical_chunk(batch_size: int, n_examples: int) -> int:
    """The chunk in which a Poisson batch of expected size B is gathered: B plus about four standard
    deviations, so that one chunk almost always holds the whole batch (a larger draw just takes
    another chunk), rounded up to a multiple of 8, at most N."""
    q = batch_size / n_examples
    extra = 4.0 * math.sqrt(max(batch_size * (1.0 - q), 1.0))
    return int(min(n_examples, 8 * math.ceil((batch_size + extra) / 8)))


def _template(params) -> tuple:
    """A hashable description of a parameter pytree (structure, shapes, dtypes)."""
    leaves, treedef = jax.tree_util.tree_flatten(params)
    return treedef, tuple((tuple(np.shape(leaf)), str(np.asarray(leaf).dtype)) for leaf in leaves)


def _unravel_of(template):
    treedef, specs = template
    zeros = [jnp.zeros(shape, dtype) for shape, dtype in specs]
    return ravel_pytree(jax.tree_util.tree_unflatten(treedef, zeros))[1]


@functools.lru_cache(maxsize=32)
def _compiled_epoch(model, n, batch_size, steps_per_epoch, momentum, weight_decay, template, chunk, follow=None):
    """The jitted, run-vectorised epoch; cached so that calls with the same model and settings
    (the cells and seed groups of a sweep) compile once. ``follow``: ``None`` (each run's constant
    C), or the relaxation of the bound every run clips at, ``C_t = G(θ_t)`` (``max_grad_norm="bound"``):
    ``"pairings"`` (:func:`~dpqml.bounds.compiled.compiled_parameter_bound`) or ``"sos"``
    (:func:`~dpqml.bounds.compiled.compiled_tracked_bound`, its search state carried by the epoch)."""
    unravel = _unravel_of(template)
    bound = None
    if follow == "pairings":
        from ..bounds.compiled import compiled_parameter_bound

        g = compiled_parameter_bound(model, dtype=template[1][0][1])

        def bound(theta, state):  # parameters only, never data
            return g(unravel(theta)["theta"])[0], state
    elif follow == "sos":
        from ..bounds.compiled import compiled_tracked_bound

        _, tracked = compiled_tracked_bound(model, dtype=template[1][0][1])

        def bound(theta, state):  # parameters (and the search state they left) only, never data
            g, _, state = tracked(unravel(theta)["theta"], state)
            return g, state
    epoch_fn = _make_epoch(model, n, batch_size=batch_size, steps_per_epoch=steps_per_epoch, momentum=momentum,
                           weight_decay=weight_decay, unravel=unravel, chunk=chunk, bound=bound)
    return jax.jit(jax.vmap(epoch_fn, in_axes=(0, 0, 0, 0, 0, 0, 0, None, None, None, 0)))


@functools.lru_cache(maxsize=8)
def _compiled_bound_state(model, template):
    """``theta (R, P) -> state``: the tracked bound's search state at each run's parameters (its
    warm-up; :func:`~dpqml.bounds.compiled.compiled_tracked_bound`), jitted and cached."""
    from ..bounds.compiled import compiled_tracked_bound

    unravel = _unravel_of(template)
    init, _ = compiled_tracked_bound(model, dtype=template[1][0][1])
    return jax.jit(jax.vmap(lambda theta: init(unravel(theta)["theta"])))


def _per_example_grads(model, unravel):
    """``grads(theta, xs, ys, arg) -> (B, P)``: the model's own per-example gradients of its
    default loss where it has them (``per_example_grads``, e.g. the paper's quantum model's adjoint
    pass), else ``vmap(grad)`` of the per-example loss."""
    apply = _model_apply(model)
    loss_name, task = model.default_loss, model.task

    def loss(theta, xi, yi, arg):
        return per_example_loss(apply(unravel(theta), xi, arg), yi, loss_name, task)

    if hasattr(model, "per_example_grads"):  # the engine's convention: (losses, grads pytree)
        def grads(theta, xs, ys, arg):
            _, g = model.per_example_grads(unravel(theta), xs, ys)
            return flatten_per_example(g)
    else:
        grads = jax.vmap(jax.grad(loss), in_axes=(None, 0, 0, None))
    return grads, jax.vmap(loss, in_axes=(None, 0, 0, None))


def _make_epoch(model, n, *, batch_size, steps_per_epoch, momentum, weight_decay, unravel, chunk, bound=None):
    """One epoch of DP-SGD for ONE run (to be vmapped over runs); the data are arguments.
    ``bound``: ``(θ, state) -> (C_t, state)`` for runs that clip at the parameter-dependent bound
    (from the current parameters and the state the earlier ones left: post-processing of released
    iterates), else ``None`` (the run's constant C; the state passes through untouched)."""
    q = batch_size / n
    grads, batch_loss = _per_example_grads(model, unravel)

    def step(carry, t):
        theta, buf, key, c_run, sigma, lr, arg, first, x, y, bstate = carry
        if bound is None:
            c = c_run
        else:
            c, bstate = bound(theta, bstate)
            c = c.astype(theta.dtype)
        k_sample, k_noise = jax.random.split(jax.random.fold_in(key, t))
        chosen = jax.random.uniform(k_sample, (n,)) < q
        count = jnp.sum(chosen).astype(jnp.int32)
        idx = jnp.concatenate([jnp.nonzero(chosen, size=n, fill_value=0)[0], jnp.zeros(chunk, jnp.int32)])
        p = theta.shape[0]
        zero = jnp.zeros((), theta.dtype)

        def body(state):
            k, clipped_sum, raw_sum, n_clipped, norm_sum, norm_max, bad = state
            rows = jax.lax.dynamic_slice(idx, (k * chunk,), (chunk,))
            valid = (k * chunk + jnp.arange(chunk)) < count
            g = grads(theta, x[rows], y[rows], arg)
            finite = jnp.all(jnp.isfinite(g), axis=1)
            g = jnp.where(finite[:, None], g, 0.0)
            norms = jnp.linalg.norm(g, axis=1)
            factor = jnp.minimum(1.0, c / jnp.maximum(norms, 1e-30))
            w = jnp.where(valid, factor, 0.0)
            v = valid.astype(theta.dtype)
            return (k + 1, clipped_sum + w @ g, raw_sum + v @ g, n_clipped + jnp.sum(v * (norms > c)),
                    norm_sum + v @ norms, jnp.maximum(norm_max, jnp.max(jnp.where(valid, norms, 0.0))),
                    bad + jnp.sum(valid & ~finite).astype(jnp.int32))

        init = (jnp.zeros((), jnp.int32), jnp.zeros(p, theta.dtype), jnp.zeros(p, theta.dtype), zero, zero, zero,
                jnp.zeros((), jnp.int32))
        _, clipped_sum, raw_sum, n_clipped, norm_sum, norm_max, bad = jax.lax.while_loop(
            lambda s: s[0] * chunk < count, body, init)
        noise = gaussian_noise(k_noise, (p,), sigma * c, theta.dtype)
        g = privatize(clipped_sum, noise, batch_size) + weight_decay * theta
        new_buf = momentum * buf + g
        new_theta = theta - lr * new_buf

        # diagnostics (not covered by ε): how much clipping changed this step's mean gradient
        m = jnp.maximum(count, 1).astype(theta.dtype)
        mean_c, mean_u = clipped_sum / m, raw_sum / m
        bias = jnp.linalg.norm(mean_c - mean_u)
        cosine = (mean_c @ mean_u) / jnp.maximum(jnp.linalg.norm(mean_c) * jnp.linalg.norm(mean_u), 1e-30)

        def gap(_):
            rows = idx[:chunk]
            valid = (jnp.arange(chunk) < count).astype(theta.dtype)
            xs, ys = x[rows], y[rows]

            def mean_loss(th):
                return (valid @ batch_loss(th, xs, ys, arg)) / m

            return mean_loss(theta - lr * mean_c) - mean_loss(theta - lr * mean_u)

        loss_gap = jax.lax.cond(t == first, gap, lambda _: zero, None)
        stats = jnp.stack([n_clipped, count.astype(theta.dtype), norm_sum, norm_max, bias, cosine, loss_gap,
                           bad.astype(theta.dtype), c, c])  # C_t twice: its mean and its max
        return (new_theta, new_buf, key, c_run, sigma, lr, arg, first, x, y, bstate), stats

    def epoch(theta, buf, key, c, sigma, lr, arg, first_step, x, y, bstate):
        ts = first_step + jnp.arange(steps_per_epoch)
        carry = (theta, buf, key, c, sigma, lr, arg, first_step, x, y, bstate)
        (theta, buf, *_, bstate), stats = jax.lax.scan(step, carry, ts)
        return theta, buf, stats, bstate

    return epoch


@functools.lru_cache(maxsize=32)
def _compiled_accuracy(model, template):
    """Per-example correctness ``(R, n)`` of every run on one evaluation set (jitted, cached)."""
    apply = _model_apply(model)
    unravel = _unravel_of(template)

    def correct(theta, xs, ys, arg):
        params = unravel(theta)
        out = jax.vmap(lambda xi: apply(params, xi, arg))(xs)
        pred = predicted_class(out, model.task)
        return (pred == ys).astype(jnp.float32)

    return jax.jit(jax.vmap(correct, in_axes=(0, None, None, 0)))


def _check_runs(runs, randomness):
    if not runs:
        raise ValueError("runs must hold at least one RunSettings")
    check_choice(randomness, "randomness", VECTORIZED_RANDOMNESS,
                 what="for vectorised runs: the 'secure' source draws on the host at every step")
    follow = [r.max_grad_norm == FOLLOW_BOUND for r in runs]
    if any(follow) and not all(follow):
        raise ValueError("runs: either every run has max_grad_norm='bound' or none does (one compiled program "
                         f"per call); got 'bound' in runs {[i for i, f in enumerate(follow) if f]} only")
    for i, r in enumerate(runs):
        for name in ("learning_rate",) if follow[i] else ("max_grad_norm", "learning_rate"):
            check_scalar(getattr(r, name), f"runs[{i}].{name}", low=0.0, low_open=True)
        check_scalar(r.noise_multiplier, f"runs[{i}].noise_multiplier", low=0.0)
        if randomness == "seeded" and r.noise_seed is None:
            raise ValueError(f"runs[{i}].noise_seed is required with randomness='seeded'")


def _run_keys(runs, randomness) -> np.ndarray:
    """One Threefry key per run: 64 secret bits each from the OS (``fast``), or from the run's
    ``noise_seed`` (``seeded``)."""
    if randomness == "fast":
        return np.frombuffer(entropy.secret_bytes(8 * len(runs)), dtype=np.uint32).reshape(len(runs), 2).copy()
    return np.stack([np.random.SeedSequence([int(r.noise_seed), 0x7AB]).generate_state(2, np.uint32) for r in runs])


def train_runs(model, runs: list[RunSettings], x_train, y_train, *, batch_size: int, epochs: int,
               delta: float, eval_sets: Mapping[str, tuple] | None = None, momentum: float = 0.9,
               weight_decay: float = 0.0, randomness: str = "fast", checkpoint_dir=None,
               checkpoint_every: int = 10, accountant: str = "pld", progress: Callable | None = None,
               dtype=jnp.float32, bound_relaxation: str = "sos") -> RunsResult:
    """Train every run of ``runs`` on ``(x_train, y_train)`` with DP-SGD, all at once.

    Args:
        model: a dpqml classifier (``init``, ``apply`` or ``apply_k``, ``task``, ``default_loss``).
        runs: one :class:`RunSettings` per run.
        x_train, y_train: ``(N, F)`` features and ``(N,)`` integer labels (private).
        batch_size: the expected batch size B; the sample rate is ``q = B / N``.
        epochs: epochs of ``ceil(N / B)`` steps each (Opacus's count).
        delta: δ of every run's accounting.
        eval_sets: ``{name: (x, y)}`` or ``{name: (x, y, weights)}``: accuracy per epoch on each
            (weights: per-example weights summing to 1; default uniform).
        momentum, weight_decay: of the SGD step (PyTorch's convention).
        randomness: ``fast`` (secret keys, the default) or ``seeded`` (each run's ``noise_seed``).
        checkpoint_dir: where to checkpoint and keep the runs' ledgers (``None``: nothing written).
        checkpoint_every: epochs between checkpoints (and the size of each ledger block).
        accountant: ``pld`` or ``rdp``, for the ε each run reports.
        progress: called as ``progress(epochs_done, epochs)`` after every block.
        bound_relaxation: for ``max_grad_norm="bound"`` runs, the bound ``C_t`` is computed with:
            ``"sos"`` (default; :func:`~dpqml.bounds.compiled.compiled_tracked_bound`, the
            sum-of-squares relaxation with its search carried from step to step, 12-14% below the
            pairings on the paper's model; restarted from the parameters after a resume) or
            ``"pairings"`` (:func:`~dpqml.bounds.compiled.compiled_parameter_bound`).
    """
    _check_runs(runs, randomness)
    check_choice(bound_relaxation, "bound_relaxation", ("sos", "pairings"))
    x_train = np.asarray(x_train, np.float32)
    y_train = np.asarray(y_train, np.int32)
    n = len(x_train)
    if not (isinstance(batch_size, (int, np.integer)) and 1 <= batch_size <= n):
        raise ValueError(f"batch_size must be an integer in [1, {n}] (the training set's size); got {batch_size!r}")
    if not (isinstance(epochs, (int, np.integer)) and epochs >= 1):
        raise ValueError(f"epochs must be an integer >= 1; got {epochs!r}")
    eval_sets = dict(eval_sets or {})
    steps_per_epoch = -(-n // batch_size)
    total_steps = steps_per_epoch * epochs
    q = batch_size / n
    r_count = len(runs)

    flat0 = []
    for r in runs:
        params0 = model.init(jax.random.PRNGKey(int(r.seed)), dtype=dtype)
        flat0.append(np.asarray(ravel_pytree(params0)[0]))
    template = _template(params0)
    theta = np.stack(flat0)
    n_params = theta.shape[1]
    buf = np.zeros_like(theta)
    keys = _run_keys(runs, randomness)
    follow = bound_relaxation if runs[0].max_grad_norm == FOLLOW_BOUND else None
    if follow:  # refuse a model without the compiled bound before any work
        from ..bounds.compiled import compiled_parameter_bound

        try:
            compiled_parameter_bound(model, dtype=dtype)
        except ValueError as exc:
            raise ValueError(f"max_grad_norm='bound' in vectorised runs: {exc}") from None
    col = {name: np.asarray([np.nan if (follow and name == "max_grad_norm") else getattr(r, name) for r in runs],
                            np.float32)
           for name in ("max_grad_norm", "noise_multiplier", "learning_rate", "model_arg")}
    configs = [PrivacyConfig(r.noise_multiplier, r.max_grad_norm, q, total_steps, delta, n, accountant)
               for r in runs]

    fingerprint = _fingerprint(x_train, y_train, runs, batch_size, epochs, momentum, weight_decay, delta)
    accuracy = {name: np.full((r_count, epochs + 1), np.nan) for name in eval_sets}
    stats_all = np.zeros((r_count, epochs, N_STATS))
    start_epoch = 0
    ledgers = None
    if checkpoint_dir is not None:
        ckpt = Path(checkpoint_dir)
        ckpt.mkdir(parents=True, exist_ok=True)
        state = _load_state(ckpt, r_count, n_params, randomness, fingerprint)
        if state is not None:
            theta, buf, keys, start_epoch, saved_acc, stats_all = state
            for name in accuracy:
                if name in saved_acc:
                    accuracy[name] = saved_acc[name]
        done_steps = start_epoch * steps_per_epoch
        ledgers = [PrivacyLedger(cfg, ckpt / "runs" / str(i), at_least=done_steps if state is not None else None)
                   for i, cfg in enumerate(configs)]

    chunk = physical_chunk(batch_size, n)
    run_epoch = _compiled_epoch(model, n, int(batch_size), steps_per_epoch, float(momentum), float(weight_decay),
                                template, chunk, follow)
    xj, yj = jnp.asarray(x_train), jnp.asarray(y_train)
    evals = {}
    for name, spec in eval_sets.items():
        xs, ys = np.asarray(spec[0], np.float32), np.asarray(spec[1], np.int32)
        w = np.full(len(xs), 1.0 / max(len(xs), 1)) if len(spec) < 3 else np.asarray(spec[2], np.float64)
        evals[name] = (jnp.asarray(xs), jnp.asarray(ys), w)
    eval_fn = _compiled_accuracy(model, template)

    def evaluate(th, e):
        for name, (xs, ys, w) in evals.items():
            accuracy[name][:, e] = np.asarray(eval_fn(th, xs, ys, col["model_arg"])) @ w

    th, bf, ks = jnp.asarray(theta), jnp.asarray(buf), jnp.asarray(keys)
    # the tracked bound's search starts (or, after a resume, restarts) from the runs' parameters
    bstate = _compiled_bound_state(model, template)(th) if follow == "sos" else jnp.zeros(r_count, th.dtype)
    e = start_epoch
    while e < epochs:
        block = min(checkpoint_every, epochs - e)
        if ledgers is not None:
            for ledger in ledgers:  # written down before the steps run
                ledger.reserve(block * steps_per_epoch, e * steps_per_epoch)
        for _ in range(block):
            evaluate(th, e)
            th, bf, stats, bstate = run_epoch(th, bf, ks, col["max_grad_norm"], col["noise_multiplier"],
                                              col["learning_rate"], col["model_arg"], jnp.int32(e * steps_per_epoch),
                                              xj, yj, bstate)
            stats_all[:, e] = _epoch_stats(np.asarray(stats))
            e += 1
        if not np.all(np.isfinite(np.asarray(th))):
            bad = [i for i in range(r_count) if not np.all(np.isfinite(np.asarray(th[i])))]
            raise FloatingPointError(f"runs {bad} diverged (non-finite parameters) by epoch {e}; "
                                     "lower their learning rate")
        if checkpoint_dir is not None:
            _save_state(Path(checkpoint_dir), np.asarray(th), np.asarray(bf), np.asarray(ks), e, accuracy,
                        stats_all, randomness, fingerprint)
        if progress is not None:
            progress(e, epochs)
    evaluate(th, epochs)
    if checkpoint_dir is not None:  # done: the runs' secret keys go with their checkpoint; the ledgers stay
        for name in (STATE_FILE, META_FILE):
            Path(checkpoint_dir, name).unlink(missing_ok=True)
    steps_spent = [ledger.steps_spent for ledger in ledgers] if ledgers else [total_steps] * r_count
    epsilon = _epsilons(configs, steps_spent)
    diagnostics = _diagnostics(stats_all)
    return RunsResult(accuracy=accuracy, diagnostics=diagnostics, epsilon=epsilon, steps_spent=steps_spent,
                      params=np.asarray(th), n_params=n_params, steps_per_epoch=steps_per_epoch,
                      resumed_from_epoch=start_epoch,
                      meta={"sample_rate": q, "steps": total_steps, "chunk": chunk, "randomness": randomness})


def _epoch_stats(stats: np.ndarray) -> np.ndarray:
    """``(R, steps, N_STATS)`` per-step statistics -> ``(R, N_STATS)`` sums/maxima for the epoch (see
    :func:`_diagnostics` for how they become diagnostics)."""
    out = stats.sum(axis=1)
    out[:, 3] = stats[:, :, 3].max(axis=1)  # max norm
    out[:, 4] = stats[:, :, 4].mean(axis=1)  # bias: mean over steps
    out[:, 5] = stats[:, :, 5].mean(axis=1)  # cosine: mean over steps
    out[:, 8] = stats[:, :, 8].mean(axis=1)  # clip threshold C_t: mean over steps
    out[:, 9] = stats[:, :, 9].max(axis=1)  # the largest clip threshold C_t
    return out


def _diagnostics(stats_all: np.ndarray) -> dict[str, np.ndarray]:
    n_clipped, seen, norm_sum, norm_max, bias, cosine, loss_gap, bad, c_mean, c_max = np.moveaxis(stats_all, -1, 0)
    safe = np.maximum(seen, 1)
    return {"clipped_fraction": n_clipped / safe, "mean_grad_norm": norm_sum / safe,
            "max_grad_norm_observed": norm_max, "clipping_bias_norm": bias, "clipping_cosine": cosine,
            "loss_gap": loss_gap, "nonfinite_gradients": bad, "examples_sampled": seen,
            "clip_threshold_mean": c_mean, "clip_threshold_max": c_max}


def _epsilons(configs: list[PrivacyConfig], steps: list[int]) -> list[float]:
    """ε of each run, computed once per distinct (configuration, steps)."""
    cache = {}
    out = []
    for cfg, s in zip(configs, steps):
        key = (cfg, s)
        if key not in cache:
            cache[key] = float(cfg.epsilon(s)) if cfg.noise_multiplier > 0 else math.inf
        out.append(cache[key])
    return out


def _fingerprint(x, y, runs, *settings) -> str:
    """What a checkpoint must match to be resumed: the training data, every run's settings and the
    schedule (a resumed call with other data or settings is refused, not silently mixed)."""
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(x).tobytes())
    h.update(np.ascontiguousarray(y).tobytes())
    h.update(repr([(r.max_grad_norm, r.noise_multiplier, r.learning_rate, r.seed, r.model_arg) for r in runs]).encode())
    h.update(repr(settings).encode())
    return h.hexdigest()


def _save_state(directory: Path, theta, buf, keys, epoch, accuracy, stats, randomness, fingerprint) -> None:
    arrays = {"theta": theta, "buf": buf, "keys": keys, "stats": stats,
              **{f"acc_{k}": v for k, v in accuracy.items()}}
    tmp = directory / (STATE_FILE + ".tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, directory / STATE_FILE)
    meta_tmp = directory / (META_FILE + ".tmp")
    meta_tmp.write_text(json.dumps({"epoch": int(epoch), "randomness": randomness, "runs": int(theta.shape[0]),
                                    "fingerprint": fingerprint}))
    os.replace(meta_tmp, directory / META_FILE)


def _load_state(directory: Path, r_count: int, n_params: int, randomness: str, fingerprint: str):
    npz, meta = directory / STATE_FILE, directory / META_FILE
    if not npz.exists() and not meta.exists():
        return None
    if npz.exists() != meta.exists():
        missing = meta if npz.exists() else npz
        raise CheckpointError(f"{missing} is missing beside its pair: the checkpoint is damaged; use a new "
                              "checkpoint directory (the steps already taken still count against the budget)")
    try:
        info = json.loads(meta.read_text())
        with np.load(npz) as z:
            data = {k: z[k] for k in z.files}
    except (OSError, ValueError) as e:
        raise CheckpointError(f"the checkpoint in {directory} cannot be read ({e}); use a new checkpoint "
                              "directory (the steps already taken still count against the budget)") from None
    same = (info.get("runs") == r_count and data["theta"].shape == (r_count, n_params)
            and data["stats"].shape[-1] == N_STATS
            and info.get("randomness") == randomness and info.get("fingerprint") == fingerprint)
    if not same:
        raise CheckpointError(f"the checkpoint in {directory} belongs to other runs or other data (its runs, "
                              "randomness, training data or settings differ); use a new checkpoint directory")
    accuracy = {k[4:]: v for k, v in data.items() if k.startswith("acc_")}
    return data["theta"], data["buf"], data["keys"], int(info["epoch"]), accuracy, data["stats"]
