"""The membership games of :func:`dpqml.audit.audit_pipeline`, each played against :func:`dpqml.train.train`.

* :func:`white_box_scores`: Dirac gradient canaries, one coordinate each, every privatized update
  of one seeded trainer run observed; m canaries are m independent games.
* :func:`black_box_scores`: mislabelled canaries trained with real data by the user's model, scored
  on the final model (loss or logit margin).

Both take the canaries' coins (``included``, fixed before training) and return one score per canary,
higher meaning "more likely trained on", computed from the trainer's outputs only.

Every trainer run here asks for reproducible noise (``noise_seed``): an audit is an experiment on
canaries that releases no model, only a bound on the mechanism, and it must be repeatable (the
white-box games observe every iterate of one run through the trainer's ``on_step``). The noise has the
same law either way.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

#: A white-box canary's gradient norm, in units of the clip norm C (> 1: only clipping keeps it at C).
CANARY_SCALE = 4.0


def white_box_scores(canaries, included, claimed, run, seed, max_physical_batch):
    """Per-canary scores from the privatized updates of ONE seeded trainer run on Dirac gradient canaries.

    The trainer runs all T steps of its own loop (plain SGD, learning rate 1), so that
    ``(θ_0 − θ_T)·qN = Σ_t (Σ clip(g_i) + z_t)``. With q = 1 or σ = 0 that sum, along each canary's
    coordinate and in units of C, is the score: a sufficient statistic (the Gaussian mean; or the exact
    number of times the canary was sampled), so seeing every step would tell the adversary nothing more.
    With q < 1 the adversary needs every step's update ``u_t``: the one run reports ``θ_t`` after every
    step (the trainer's ``on_step``: the released iterates, nothing the mechanism keeps secret), and the
    score is the log-likelihood ratio of the claimed mechanism, ``Σ_t log(1 − q + q·exp((u_t − ½)/σ²))``.
    Returns ``(m,)`` scores.
    """
    import jax.numpy as jnp

    from dpqml.privacy import PrivacyConfig
    from dpqml.train import FunctionModel, TrainConfig, train

    m = canaries
    members = np.flatnonzero(included)
    n = members.size
    if n == 0:
        raise ValueError("no canary was included (all coins tails); use more canaries")
    c = claimed.max_grad_norm
    x = np.zeros((n, m), np.float32)
    x[np.arange(n), members] = CANARY_SCALE * c
    y = np.zeros(n, np.int32)
    model = FunctionModel(loss_fn=lambda params, xi, yi: jnp.dot(params, xi), params=jnp.zeros(m, jnp.float32),
                          input_dim=m, family="dirac-canaries")
    # noise_seed: reproducible noise, so that the audit can be repeated (the auditor plays an adversary who
    # sees every iterate; the audit releases no model, only a bound on the mechanism)
    config = TrainConfig(learning_rate=1.0, optimizer="sgd", seed=seed, noise_seed=seed,
                         max_physical_batch=max_physical_batch)
    sigma, q, steps = claimed.noise_multiplier, claimed.sample_rate, claimed.steps
    sufficient = sigma == 0.0 or q >= 1.0
    thetas = [np.zeros(m, np.float64)]
    privacy = PrivacyConfig(run.noise_multiplier, run.max_grad_norm, run.sample_rate, steps, run.delta, n,
                            run.accountant, run.neighboring, allow_large_delta=True)

    def observe(step, params):  # every released iterate θ_{t+1} of the one run
        if not sufficient:
            thetas.append(np.asarray(params, np.float64))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # δ vs 1/N: the audit's δ is the claim's, stated in the report
        final = train(model, x, y, privacy, config, on_step=observe).params
    if sufficient:
        thetas.append(np.asarray(final, np.float64))
    # θ_{t+1} = θ_t − (Σ clip + z_t)/(qN): undo the normalisation by the public constant qN, in units of C
    updates = -np.diff(np.stack(thetas), axis=0) * (q * n) / c
    if sufficient:
        return updates.sum(axis=0)
    return np.logaddexp(math.log1p(-q), math.log(q) + (updates - 0.5) / sigma**2).sum(axis=0)


def black_box_scores(model, canaries, included, run, seed, score, data, learning_rate, max_physical_batch,
                      train_options):
    """Per-canary scores from the final model of one trainer run on real data plus mislabelled canaries."""
    import jax
    import jax.numpy as jnp

    from dpqml.privacy import PrivacyConfig
    from dpqml.train import TrainConfig, train

    x_data, y_data = data
    rng = np.random.default_rng([seed, 0xB1AC])
    # Canaries: inputs drawn from the data's own rows (jittered within the feature range), label flipped.
    pick = rng.integers(0, len(x_data), canaries)
    lo, hi = x_data.min(axis=0), x_data.max(axis=0)
    x_can = np.clip(x_data[pick] + rng.normal(0, 0.05, (canaries, x_data.shape[1])) * (hi - lo), lo, hi)
    n_classes = getattr(model, "n_classes", 2)
    y_can = (y_data[pick] + rng.integers(1, n_classes, canaries)) % n_classes
    x_train = np.concatenate([x_data, x_can[included]]).astype(np.float32)
    y_train = np.concatenate([y_data, y_can[included]]).astype(np.int32)
    privacy = PrivacyConfig(run.noise_multiplier, run.max_grad_norm, run.sample_rate, run.steps, run.delta,
                            len(x_train), run.accountant, run.neighboring, allow_large_delta=True)
    config = TrainConfig(learning_rate=learning_rate, optimizer="adam", seed=seed, noise_seed=seed,
                         max_physical_batch=max_physical_batch, **train_options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        result = train(model, x_train, y_train, privacy, config)
    params = result.params
    if score == "loss":
        losses = jax.vmap(model.loss, in_axes=(None, 0, 0))(params, jnp.asarray(x_can, jnp.float32),
                                                             jnp.asarray(y_can, jnp.int32))
        return -np.asarray(losses, np.float64)
    logits = np.asarray(jax.vmap(model.apply, in_axes=(None, 0))(params, jnp.asarray(x_can, jnp.float32)),
                        np.float64)
    if logits.ndim == 1:  # binary: one logit for class 1
        return np.where(y_can == 1, logits, -logits)
    own = logits[np.arange(canaries), y_can]
    logits[np.arange(canaries), y_can] = -np.inf
    return own - logits.max(axis=1)


#: Learning rate of the model white-box game: large, so that the parameters move far between steps and the
#: canaries' gradients at successive steps are far from collinear (the claim does not depend on it).
MODEL_GAME_LEARNING_RATE = 50.0


def white_box_model_scores(model, canaries, included, run, seed, max_physical_batch, train_options):
    """Per-canary scores from every privatized update of the user's own model (no extra coordinates).

    Canaries are inputs to ``model`` itself (uniform in [0, π] per feature, random labels); the training
    set is the included ones, q = 1. The trainer runs one step per call (plain SGD, parameters carried
    over), so the adversary sees ``u_t = Σ_{i in} clip(g_i(θ_t)) + z_t`` in R^p, and, knowing the model and
    θ_t, computes every canary's clipped gradient ``clip(g_i(θ_t))`` itself (with the trainer's own
    ``clip_per_example``). Stacking the T steps gives ``U = A·b + Z`` with ``A`` of shape ``(p·T, m)``; the
    least-squares ``b̂ = argmin ‖A b − U‖`` is the score (exactly the coins when σ = 0 and the per-example
    gradient is exact, as in a density-matrix simulation with device noise). Needs ``m ≤ p·T``.
    """
    import jax
    import jax.numpy as jnp
    from jax.flatten_util import ravel_pytree

    from dpqml.engine import make_per_example_grads
    from dpqml.privacy import PrivacyConfig, clip_per_example, flatten_per_example
    from dpqml.train import TrainConfig, train

    if run.sample_rate != 1.0:
        raise ValueError(f"threat_model 'white-box-model' needs sample_rate=1 (every step sees every canary); "
                         f"got {run.sample_rate}")
    rng = np.random.default_rng([seed, 0x3E7])
    dim = getattr(model, "input_dim", None)
    n_classes = getattr(model, "n_classes", 2)
    x_can = rng.uniform(0.0, np.pi, (canaries, dim)).astype(np.float32)
    y_can = rng.integers(0, n_classes, canaries).astype(np.int32)
    members = np.flatnonzero(included)
    if members.size == 0:
        raise ValueError("no canary was included (all coins tails); use more canaries")
    params = model.init(jax.random.PRNGKey(seed))
    flat0, _ = ravel_pytree(params)
    p = int(flat0.size)
    if canaries > p * run.steps:
        raise ValueError(f"threat_model 'white-box-model' separates m canaries with p*T = {p}*{run.steps} "
                         f"observed coordinates; m={canaries} is more: use steps >= {math.ceil(canaries / p)}")
    per_example = make_per_example_grads(model.loss, "vmap")
    c = run.max_grad_norm

    @jax.jit
    def clipped_all(theta):
        _, grads = per_example(theta, jnp.asarray(x_can), jnp.asarray(y_can))
        return clip_per_example(flatten_per_example(grads), c)[0]

    one_step = PrivacyConfig(run.noise_multiplier, run.max_grad_norm, 1.0, 1, run.delta, members.size,
                             run.accountant, run.neighboring, allow_large_delta=True)
    rows, observed = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for step_seed in _step_seeds(seed, run.steps):
            config = TrainConfig(learning_rate=MODEL_GAME_LEARNING_RATE, optimizer="sgd", seed=step_seed,
                                 noise_seed=step_seed,
                                 max_physical_batch=max_physical_batch, **train_options)
            result = train(model, x_can[members], y_can[members], one_step, config, params=params)
            before, after = ravel_pytree(params)[0], ravel_pytree(result.params)[0]
            observed.append(np.asarray(before - after, np.float64) * members.size / MODEL_GAME_LEARNING_RATE)
            rows.append(np.asarray(clipped_all(params), np.float64).T)  # (p, m)
            params = result.params
    design, updates = np.concatenate(rows), np.concatenate(observed)
    return np.linalg.lstsq(design, updates, rcond=None)[0]


def _step_seeds(seed: int, steps: int) -> list[int]:
    return [int(s) for s in np.random.SeedSequence([seed, 0xA0D1]).generate_state(steps)]
