"""How far the compiled G(θ) of the paper's model lies above ``parameter_bound`` (docs/bounds.md,
"The compiled form").

Both are valid bounds on the same relaxation; the compiled one (Lanczos estimates, a bisection for
the mixing weight, a Cholesky certificate, the precision's rounding margin) is the one training
uses at every step. At ``--runs`` initialisations of the paper's model, each angle moved by
N(0, ``--spread``²), prints the ratio compiled / ``parameter_bound``, sorted, and its range::

    python benchmarks/compiled_bound_gap.py              # float32, 60 points (about 40 s)
    python benchmarks/compiled_bound_gap.py --float64
"""

from __future__ import annotations

import argparse

import numpy as np


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=60, help="how many parameter points (default 60)")
    parser.add_argument("--spread", type=float, default=0.05, help="std of the move of each angle (default 0.05)")
    parser.add_argument("--float64", action="store_true", help="compute the compiled bound in float64")
    args = parser.parse_args(argv)
    if args.runs < 1 or not args.spread >= 0:
        parser.error("--runs must be >= 1 and --spread >= 0")
    import jax

    if args.float64:
        jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    from dpqml.bounds.compiled import compiled_parameter_bound
    from dpqml.bounds.parametric import parameter_bound
    from dpqml.models.paper import PaperQuantumModel

    dtype = jnp.float64 if args.float64 else jnp.float32
    model = PaperQuantumModel()
    bound = jax.jit(compiled_parameter_bound(model, dtype=dtype))
    ratios = []
    for seed in range(args.runs):
        params = model.init(jax.random.PRNGKey(seed), dtype)
        theta = params["theta"] + args.spread * jax.random.normal(jax.random.PRNGKey(100 + seed),
                                                                  params["theta"].shape, dtype)
        g, fallbacks = bound(theta)
        ref = parameter_bound(model, dict(params, theta=theta)).total
        ratios.append(float(g) / ref)
        print(f"point {seed}: compiled {float(g):.6f}, parameter_bound {ref:.6f}, ratio {ratios[-1]:.5f}"
              f"{'' if int(fallbacks) == 0 else f', {int(fallbacks)} vertices on the data-free bound'}",
              flush=True)
    ratios = np.sort(np.asarray(ratios))
    print(f"ratio compiled / parameter_bound over {args.runs} points ({jnp.dtype(dtype).name}): "
          f"min {ratios[0]:.5f}, median {np.median(ratios):.5f}, max {ratios[-1]:.5f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
