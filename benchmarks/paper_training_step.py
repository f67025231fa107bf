"""What the paper's quantum model costs where the tabular study trains it (docs/engine.md,
"Measurements behind the choices").

``dpqml compare --preset paper-tabular`` trains ten runs at once with ``train_runs``, which calls
``PaperQuantumModel.per_example_grads`` on a Poisson batch gathered in a chunk of
:func:`dpqml.train.vectorized.physical_chunk` examples (96 for B = 64 of 1,638), vectorised over
the runs. Prints:

* milliseconds per call of the gradient alone, as the trainer calls it (``jit(vmap(...))`` over
  ``--runs`` runs of one chunk; synchronous dispatch, the median of timed calls after a warm-up);
* ``train_runs``'s milliseconds per epoch, the difference between ``1 + --epochs`` epochs and one
  epoch, each after a warm-up call, so compilation and the per-call set-up drop out.

Synthetic data of the study's sizes (1,638 examples, 16 features, four classes)::

    python benchmarks/paper_training_step.py              # 10 runs, B = 64 (about 1 min)
    python benchmarks/paper_training_step.py --runs 1 --batch 256
"""

from __future__ import annotations

import argparse
import time

N_TRAIN = 1638  # the tabular study's training rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="runs trained at once (default 10)")
    parser.add_argument("--batch", type=int, default=64, help=f"expected batch size B, 1..{N_TRAIN} (default 64)")
    parser.add_argument("--epochs", type=int, default=10, help="epochs timed (default 10)")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.epochs < 1 or not 1 <= args.batch <= N_TRAIN:
        parser.error(f"--runs and --epochs must be >= 1, --batch in 1..{N_TRAIN}")
    import jax

    jax.config.update("jax_cpu_enable_async_dispatch", False)
    import numpy as np

    from dpqml.bench.timing import time_call
    from dpqml.models.paper import PaperQuantumModel
    from dpqml.train.vectorized import RunSettings, physical_chunk, train_runs

    model = PaperQuantumModel()
    chunk = physical_chunk(args.batch, N_TRAIN)
    keys = jax.random.split(jax.random.PRNGKey(0), args.runs)
    params = jax.vmap(model.init)(keys)
    xs = jax.random.normal(jax.random.PRNGKey(1), (args.runs, chunk, 16))
    ys = jax.random.randint(jax.random.PRNGKey(2), (args.runs, chunk), 0, 4)
    grads = jax.jit(jax.vmap(lambda p, x, y: model.per_example_grads(p, x, y)))
    jax.block_until_ready(grads(params, xs, ys))
    gradient = min(time_call(lambda: jax.block_until_ready(grads(params, xs, ys)), min_seconds=1.0).seconds_per_call
                   for _ in range(3))

    rng = np.random.default_rng(0)
    x = rng.normal(size=(N_TRAIN, 16)).astype(np.float32)
    y = rng.integers(0, 4, N_TRAIN)
    runs = [RunSettings(max_grad_norm=1.0, noise_multiplier=1.0, learning_rate=0.05, seed=s) for s in range(args.runs)]

    def timed(epochs: int) -> float:
        t = time.perf_counter()
        train_runs(model, runs, x, y, batch_size=args.batch, epochs=epochs, delta=1e-5)
        return time.perf_counter() - t

    timed(1)  # compiles
    one = timed(1)
    epoch = (timed(1 + args.epochs) - one) / args.epochs
    print(f"paper model, {args.runs} runs, B = {args.batch} (chunk {chunk}):")
    print(f"  per-example gradients of one chunk, all runs: {gradient * 1e3:8.3f} ms per call")
    print(f"  train_runs:                                   {epoch * 1e3:8.1f} ms per epoch "
          f"({-(-N_TRAIN // args.batch)} steps)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
