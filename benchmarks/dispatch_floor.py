"""What a compiled call costs JAX's CPU dispatch, whatever it computes (docs/engine.md, "Known limits").

Times three tiny jitted functions on device-resident inputs, one call at a time (each blocked on),
under JAX's default asynchronous CPU dispatch, or with ``--sync`` (which sets
``jax_cpu_enable_async_dispatch`` off before the first computation)::

    python benchmarks/dispatch_floor.py
    python benchmarks/dispatch_floor.py --sync
"""

from __future__ import annotations

import argparse

import numpy as np


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sync", action="store_true", help="turn JAX's asynchronous CPU dispatch off first")
    args = parser.parse_args(argv)
    import jax
    import jax.numpy as jnp

    if args.sync:
        jax.config.update("jax_cpu_enable_async_dispatch", False)

    from dpqml.bench.timing import time_call

    rng = np.random.default_rng(0)
    a = jnp.asarray(rng.normal(size=(16, 16)).astype(np.float32))
    b = jnp.asarray(rng.normal(size=(64, 16)).astype(np.float32))

    def chain(a, b):
        for _ in range(30):
            b = jnp.tanh(b @ a)
        return b

    calls = {"add 1 to a (64, 16) array": lambda a, b: b + 1.0,
             "one (64, 16) x (16, 16) product": lambda a, b: b @ a,
             "30 dependent such products": chain}
    print(f"JAX {jax.__version__}, asynchronous CPU dispatch: {jax.config.read('jax_cpu_enable_async_dispatch')}")
    for name, f in calls.items():
        compiled = jax.jit(f).lower(a, b).compile()
        best = min(time_call(lambda c=compiled: c(a, b).block_until_ready(), min_seconds=1.0,
                             max_calls=100_000).seconds_per_call for _ in range(3))
        print(f"{name:34s} {best * 1e6:8.1f} us per call")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
