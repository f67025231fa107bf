"""Fixed transforms: pooling equals block means by hand, the angle map sends the box to [a, b]."""

import numpy as np
import pytest

from dpqml.data import average_pool, clip_to_box, flatten_images, pool_grid, reachable_n_features, scale_to_angles


def _block_means_by_hand(image, gh, gw):
    h, w = image.shape
    bh, bw = h // gh, w // gw
    out = np.zeros((gh, gw))
    for i in range(gh):
        for j in range(gw):
            total = 0.0
            for r in range(i * bh, (i + 1) * bh):
                for c in range(j * bw, (j + 1) * bw):
                    total += image[r, c]
            out[i, j] = total / (bh * bw)
    return out


@pytest.mark.parametrize("shape,grid", [((8, 8), (2, 2)), ((8, 8), (1, 2)), ((8, 8), (4, 8)), ((28, 28), (4, 7))])
def test_average_pool_is_the_mean_of_each_block(shape, grid):
    images = np.random.default_rng(0).integers(0, 17, (3, *shape))
    pooled = average_pool(images, grid)
    assert pooled.shape == (3, *grid)
    for img, p in zip(images, pooled):
        np.testing.assert_allclose(p, _block_means_by_hand(img, *grid), rtol=1e-12)


def test_average_pool_refuses_a_grid_that_does_not_tile():
    with pytest.raises(ValueError, match=r"grid=\(3, 2\) does not tile 8×8 images.*\[1, 2, 4, 8\]"):
        average_pool(np.zeros((1, 8, 8)), (3, 2))


def test_flatten_is_row_major():
    images = np.arange(12).reshape(1, 3, 4)
    flat = flatten_images(images)
    assert flat.shape == (1, 12)
    assert flat[0, 1 * 4 + 2] == images[0, 1, 2]


def test_reachable_feature_counts_of_digits_and_mnist():
    assert reachable_n_features((8, 8)) == [1, 2, 4, 8, 16, 32, 64]
    assert {1, 4, 16, 49, 196, 784} <= set(reachable_n_features((28, 28)))
    assert 9 not in reachable_n_features((28, 28))


def test_pool_grid_picks_the_most_square_grid_and_names_reachable_values():
    assert pool_grid(4, (8, 8)) == (2, 2)
    assert pool_grid(2, (8, 8)) == (1, 2)
    assert pool_grid(8, (8, 8)) == (2, 4)
    assert pool_grid(16, (28, 28)) == (4, 4)
    assert pool_grid(64, (8, 8)) == (8, 8)
    with pytest.raises(ValueError, match=r"n_features=5 cannot be reached.*values are \[1, 2, 4, 8, 16, 32, 64\]"):
        pool_grid(5, (8, 8))


def test_scale_to_angles_sends_the_box_ends_to_the_range_ends():
    x = np.array([[0.0, -1.0], [16.0, 1.0], [8.0, 0.0]])
    phi = scale_to_angles(x, [0.0, -1.0], [16.0, 1.0])
    np.testing.assert_allclose(phi, [[0, 0], [np.pi, np.pi], [np.pi / 2, np.pi / 2]], atol=1e-15)
    phi = scale_to_angles(x[:, :1], 0.0, 16.0, angle_range=(-1.0, 3.0))
    np.testing.assert_allclose(phi[:, 0], [-1.0, 3.0, 1.0])


def test_scale_to_angles_does_not_depend_on_the_data():
    """One example's angle is the same whatever else is in the batch: no data statistics."""
    x = np.array([[3.0], [5.0]])
    alone = scale_to_angles(x[:1], 0.0, 16.0)
    with_others = scale_to_angles(np.concatenate([x[:1], 100 * np.ones((5, 1))]), 0.0, 16.0, clip=True)
    assert alone[0, 0] == with_others[0, 0] == pytest.approx(3.0 / 16.0 * np.pi)


def test_scale_to_angles_clips_only_when_asked():
    x = np.array([[-2.0], [0.5], [7.0]])
    with pytest.raises(ValueError, match=r"outside the declared box.*clip=True"):
        scale_to_angles(x, -1.0, 1.0)
    np.testing.assert_allclose(scale_to_angles(x, -1.0, 1.0, clip=True)[:, 0], [0.0, 0.75 * np.pi, np.pi])
    np.testing.assert_array_equal(clip_to_box(x, -1.0, 1.0)[:, 0], [-1.0, 0.5, 1.0])


def test_scale_to_angles_refuses_nan_and_a_bad_range():
    with pytest.raises(ValueError, match="NaN"):
        scale_to_angles(np.array([[np.nan]]), 0.0, 1.0)
    with pytest.raises(ValueError, match="angle_range must be finite with lo < hi"):
        scale_to_angles(np.array([[0.5]]), 0.0, 1.0, angle_range=(1.0, 0.0))
