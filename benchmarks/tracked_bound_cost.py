"""What the tracked bound costs inside the vectorised trainer (docs/bounds.md, "Tracked along
training").

``train_runs`` with ``max_grad_norm="bound"`` computes ``C_t = G(θ_t)`` at every step of every run
(:func:`dpqml.bounds.compiled.compiled_tracked_bound`, mapped over the runs with ``lax.map`` inside
the epoch's ``scan``). Prints milliseconds per run and step of:

* the bound's step on its own (``jit(vmap(step))`` over the runs, one call per step);
* ``train_runs`` with ``max_grad_norm="bound"`` (bound and training);
* ``train_runs`` with a constant clip norm (training alone).

The trainer's figures are the difference between ``1 + --epochs`` epochs and one epoch, each
after a warm-up call, so compilation and the per-call set-up drop out. Synthetic data (``--n``
examples, 16 features, four classes), batch 64::

    python benchmarks/tracked_bound_cost.py              # 2 runs, 3 epochs of 4 steps (about 1 min)
    python benchmarks/tracked_bound_cost.py --runs 10
"""

from __future__ import annotations

import argparse
import time


def _per_run_step(seconds: float, runs: int, steps: int) -> float:
    return seconds / (runs * steps) * 1e3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2, help="runs trained at once (default 2)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs timed (default 3)")
    parser.add_argument("--n", type=int, default=256, help="training examples (default 256: 4 steps an epoch)")
    parser.add_argument("--calls", type=int, default=10, help="calls of the bound alone (default 10)")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.epochs < 1 or args.n < 64 or args.calls < 1:
        parser.error("--runs, --epochs and --calls must be >= 1, --n >= 64")
    import jax
    import jax.numpy as jnp
    import numpy as np

    from dpqml.bounds.compiled import compiled_tracked_bound
    from dpqml.models.paper import PaperQuantumModel
    from dpqml.train.vectorized import RunSettings, train_runs

    model = PaperQuantumModel()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.n, 16)).astype(np.float32)
    y = rng.integers(0, 4, args.n)
    batch = 64
    steps_per_epoch = -(-args.n // batch)

    init, step = compiled_tracked_bound(model)
    theta = jnp.stack([model.init(jax.random.PRNGKey(s))["theta"] for s in range(args.runs)])
    state = jax.jit(jax.vmap(init))(theta)
    step_fn = jax.jit(jax.vmap(step))
    jax.block_until_ready(step_fn(theta, state))
    t = time.perf_counter()
    for _ in range(args.calls):
        out = jax.block_until_ready(step_fn(theta, state))
        state = out[2]
    alone = _per_run_step(time.perf_counter() - t, args.runs, args.calls)

    def trainer(clip) -> float:
        runs = [RunSettings(clip, 1.0, 0.05, seed=s) for s in range(args.runs)]

        def timed(epochs: int) -> float:
            t = time.perf_counter()
            train_runs(model, runs, x, y, batch_size=batch, epochs=epochs, delta=1e-5)
            return time.perf_counter() - t

        timed(1)  # compiles
        one = timed(1)
        more = timed(1 + args.epochs)
        return _per_run_step(more - one, args.runs, args.epochs * steps_per_epoch)

    with_bound = trainer("bound")
    constant = trainer(1.0)
    print(f"paper model, {args.runs} runs, batch {batch}, ms per run and step:")
    print(f"  tracked bound alone (jit(vmap(step)))      {alone:8.2f}")
    print(f"  train_runs, max_grad_norm='bound'          {with_bound:8.2f}")
    print(f"  train_runs, max_grad_norm=1.0 (no bound)   {constant:8.2f}")
    print(f"  bound inside the trainer, by difference    {with_bound - constant:8.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
