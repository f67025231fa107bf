"""The stages of a DP-SGD step: clipping, noise, normalisation, Poisson sampling, padding."""

import numpy as np
import pytest

from dpqml.privacy.dpsgd import clip_per_example, gaussian_noise, privatize, secure_gaussian_noise
from dpqml.privacy.sampling import physical_batches, physical_shapes, poisson_sample, step_rng


def test_clip_bounds_every_row_and_keeps_short_ones():
    rng = np.random.default_rng(0)
    g = rng.normal(size=(50, 7)) * rng.uniform(0.1, 5, size=(50, 1))
    clipped, stats = clip_per_example(g, 1.5)
    clipped = np.asarray(clipped)
    norms = np.linalg.norm(g, axis=1)
    assert np.all(np.linalg.norm(clipped, axis=1) <= 1.5 * (1 + 1e-12))
    short = norms <= 1.5
    np.testing.assert_allclose(clipped[short], g[short], rtol=1e-12)
    # Long rows keep their direction and have norm exactly C.
    np.testing.assert_allclose(clipped[~short], g[~short] * (1.5 / norms[~short])[:, None], rtol=1e-12)
    np.testing.assert_allclose(np.asarray(stats["norms"]), norms, rtol=1e-12)
    np.testing.assert_array_equal(np.asarray(stats["clipped"]), (~short).astype(float))


def test_no_clipping_when_clip_exceeds_every_norm():
    rng = np.random.default_rng(1)
    g = rng.normal(size=(20, 5))
    clipped, stats = clip_per_example(g, 1.01 * np.linalg.norm(g, axis=1).max())
    np.testing.assert_array_equal(np.asarray(clipped), g)
    assert float(np.sum(stats["clipped"])) == 0


def test_nonfinite_rows_are_zeroed_and_counted_and_padding_is_ignored():
    g = np.ones((4, 3))
    g[1, 2] = np.nan
    g[2, 0] = np.inf
    mask = np.array([1.0, 1.0, 1.0, 0.0])
    clipped, stats = clip_per_example(g, 10.0, mask)
    clipped = np.asarray(clipped)
    np.testing.assert_array_equal(clipped[1:], 0.0)
    np.testing.assert_array_equal(clipped[0], 1.0)
    np.testing.assert_array_equal(np.asarray(stats["nonfinite"]), [0, 1, 1, 0])
    assert np.all(np.isfinite(clipped))


def test_privatize_divides_by_the_expected_batch_size():
    s = np.array([1.0, -2.0])
    noise = np.array([0.5, 0.5])
    np.testing.assert_allclose(np.asarray(privatize(s, noise, 4.0)), [0.375, -0.375])


@pytest.mark.parametrize("std", [0.3, 2.0])
def test_noise_std_equals_sigma_times_c(std):
    import jax

    z = np.asarray(gaussian_noise(jax.random.PRNGKey(0), (200_000,), std, np.float64))
    # Standard error of the sample std is std / sqrt(2n) ≈ 0.16% of std.
    assert abs(z.std() / std - 1) < 0.01
    assert abs(z.mean()) < 5 * std / np.sqrt(z.size)


def test_secure_noise_has_the_right_law_and_is_not_reproducible():
    from scipy import stats

    z = secure_gaussian_noise((200_000,), 1.7, np.float64)
    assert abs(z.std() / 1.7 - 1) < 0.01
    assert abs(z.mean()) < 5 * 1.7 / np.sqrt(z.size)
    assert stats.kstest(z / 1.7, "norm").pvalue > 1e-4
    assert not np.array_equal(secure_gaussian_noise((8,), 1.0), secure_gaussian_noise((8,), 1.0))
    assert secure_gaussian_noise((3, 2), 1.0, np.float32).dtype == np.float32


def test_poisson_sampling_matches_the_accountants_assumption():
    n, q, steps = 500, 0.05, 2000
    sizes = []
    counts = np.zeros(n)
    for t in range(steps):
        idx = poisson_sample(n, q, step_rng(3, t))
        sizes.append(len(idx))
        counts[idx] += 1
    sizes = np.array(sizes)
    # Batch size ~ Binomial(N, q): mean Nq, variance Nq(1-q) (not a fixed batch size).
    assert abs(sizes.mean() - n * q) < 4 * np.sqrt(n * q * (1 - q) / steps)
    assert abs(sizes.var() / (n * q * (1 - q)) - 1) < 0.15
    # Every example is included with probability q.
    assert abs(counts.mean() / steps - q) < 0.002
    assert counts.std() / steps < 3 * np.sqrt(q * (1 - q) / steps)


def test_secure_poisson_sampling_rate():
    sizes = [len(poisson_sample(1000, 0.1, secure=True)) for _ in range(300)]
    assert abs(np.mean(sizes) - 100) < 4 * np.sqrt(90 / 300)
    assert len(poisson_sample(10, 1.0, secure=True)) == 10


def test_sampling_is_a_pure_function_of_seed_and_step():
    a = poisson_sample(100, 0.3, step_rng(7, 12))
    b = poisson_sample(100, 0.3, step_rng(7, 12))
    c = poisson_sample(100, 0.3, step_rng(7, 13))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_physical_batches_cover_the_batch_once_with_few_shapes():
    idx = np.arange(1000, 1000 + 77)
    batches = physical_batches(idx, 32)
    assert [len(b) for b, _ in batches] == [32, 32, 16]
    real = np.concatenate([b[m > 0] for b, m in batches])
    np.testing.assert_array_equal(real, idx)
    assert set(len(b) for b, _ in batches) <= set(physical_shapes(32))
    assert physical_shapes(32) == [1, 2, 4, 8, 16, 32]
    assert physical_batches(np.array([], int), 32) == []
    # Shapes used over many Poisson batches stay within the few allowed.
    shapes = {len(b) for t in range(200) for b, _ in physical_batches(poisson_sample(300, 0.1, step_rng(0, t)), 24)}
    assert shapes <= set(physical_shapes(24))
