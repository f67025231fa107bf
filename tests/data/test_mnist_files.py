"""MNIST / Fashion-MNIST from local IDX or NPZ files that the tests write themselves."""

import numpy as np
import pytest

from dpqml.data import load_dataset, load_mnist_files, write_idx

N_TRAIN, N_TEST = 12, 6


def _arrays(seed=0):
    rng = np.random.default_rng(seed)
    return {
        "x_train": rng.integers(0, 256, (N_TRAIN, 28, 28), dtype=np.uint8),
        "y_train": (np.arange(N_TRAIN) % 10).astype(np.uint8),
        "x_test": rng.integers(0, 256, (N_TEST, 28, 28), dtype=np.uint8),
        "y_test": np.array([0, 1, 1, 0, 5, 9], dtype=np.uint8),
    }


def _write_idx_dir(directory, arrays, gz=False):
    directory.mkdir(exist_ok=True)
    suffix = ".gz" if gz else ""
    write_idx(directory / f"train-images-idx3-ubyte{suffix}", arrays["x_train"])
    write_idx(directory / f"train-labels-idx1-ubyte{suffix}", arrays["y_train"])
    write_idx(directory / f"t10k-images-idx3-ubyte{suffix}", arrays["x_test"])
    write_idx(directory / f"t10k-labels-idx1-ubyte{suffix}", arrays["y_test"])
    return directory


@pytest.mark.parametrize("gz", [False, True])
def test_idx_directory_is_read_back_exactly(tmp_path, gz):
    arrays = _arrays()
    got = load_mnist_files(_write_idx_dir(tmp_path / "mnist", arrays, gz=gz))
    for k in arrays:
        np.testing.assert_array_equal(got[k], arrays[k])


def test_npz_archive_is_read_back_exactly(tmp_path):
    arrays = _arrays()
    np.savez(tmp_path / "mnist.npz", **arrays)
    got = load_mnist_files(tmp_path / "mnist.npz")
    for k in arrays:
        np.testing.assert_array_equal(got[k], arrays[k])


def test_idx_and_npz_give_the_same_dataset(tmp_path):
    arrays = _arrays()
    np.savez_compressed(tmp_path / "m.npz", **arrays)
    a = load_dataset("mnist", path=tmp_path / "m.npz", classes="all", seed=3)
    b = load_dataset("mnist", path=_write_idx_dir(tmp_path / "d", arrays), classes="all", seed=3)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(a.y_test, b.y_test)


def test_pooled_mnist_features_are_block_means_of_the_written_images(tmp_path):
    arrays = _arrays()
    path = _write_idx_dir(tmp_path / "mnist", arrays)
    full = load_dataset("mnist", path=path, n_features=784, classes="all", seed=1)
    pooled = load_dataset("mnist", path=path, n_features=4, classes="all", seed=1)
    assert pooled.meta["grid"] == (2, 2) and pooled.x_train.shape == (N_TRAIN, 4)
    assert pooled.feature_range == pytest.approx((0.0, np.pi))
    for row_full, row_pooled, label in zip(full.x_train, pooled.x_train, pooled.y_train):
        # undo the documented map 0..255 → 0..π to find which written image this row is
        pixels = np.rint(row_full.astype(np.float64) * 255 / np.pi).reshape(28, 28)
        (j,) = [j for j, img in enumerate(arrays["x_train"]) if np.array_equal(img, pixels)]
        assert label == arrays["y_train"][j]
        img = arrays["x_train"][j].astype(np.float64)
        blocks = [img[:14, :14].mean(), img[:14, 14:].mean(), img[14:, :14].mean(), img[14:, 14:].mean()]
        np.testing.assert_allclose(row_pooled, np.array(blocks) / 255 * np.pi, rtol=1e-6)


def test_binary_classes_relabel_in_the_order_given(tmp_path):
    path = _write_idx_dir(tmp_path / "fmnist", _arrays(), gz=True)
    ds = load_dataset("fashion-mnist", path=path, classes=(1, 0))
    assert ds.name == "fashion-mnist" and ds.n_classes == 2
    # the test file holds digits [0, 1, 1, 0, 5, 9]: 1 → label 0, 0 → label 1, others dropped
    assert sorted(ds.y_test.tolist()) == [0, 0, 1, 1]
    assert ds.n_train == 4  # train labels 0..9, 0..1: two 0s and two 1s


def test_n_train_and_n_test_subsample_deterministically(tmp_path):
    path = _write_idx_dir(tmp_path / "mnist", _arrays())
    a = load_dataset("mnist", path=path, classes="all", n_train=5, n_test=2, seed=7)
    b = load_dataset("mnist", path=path, classes="all", n_train=5, n_test=2, seed=7)
    assert (a.n_train, a.n_test) == (5, 2)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    with pytest.raises(ValueError, match=r"has 12 images.*n_train=13 exceeds it"):
        load_dataset("mnist", path=path, classes="all", n_train=13)


def test_flat_npz_images_are_reshaped_to_squares(tmp_path):
    arrays = _arrays()
    arrays["x_train"] = arrays["x_train"].reshape(N_TRAIN, 784)
    np.savez(tmp_path / "flat.npz", **arrays)
    assert load_mnist_files(tmp_path / "flat.npz")["x_train"].shape == (N_TRAIN, 28, 28)


def test_missing_path_and_missing_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"path=.*nowhere.*does not exist"):
        load_dataset("mnist", path=tmp_path / "nowhere")
    with pytest.raises(ValueError, match="path is required.*nothing is downloaded"):
        load_dataset("mnist")
    d = tmp_path / "partial"
    d.mkdir()
    write_idx(d / "train-images-idx3-ubyte", _arrays()["x_train"])
    with pytest.raises(FileNotFoundError, match=r"lacks the IDX files \['train-labels-idx1-ubyte', 't10k-images"):
        load_dataset("mnist", path=d)


def test_a_file_that_is_neither_idx_nor_npz_is_refused_naming_it(tmp_path):
    path = tmp_path / "mnist.csv"
    path.write_text("label,pixel0\n5,0\n")
    with pytest.raises(ValueError, match=r"mnist\.csv: neither an NPZ archive .* nor an IDX file"):
        load_dataset("mnist", path=path)
    single = write_idx(tmp_path / "train-images-idx3-ubyte", _arrays()["x_train"])
    with pytest.raises(ValueError, match="single IDX file.*pass the directory"):
        load_dataset("mnist", path=single)


def test_npz_without_the_mnist_keys_is_refused_listing_its_keys(tmp_path):
    np.savez(tmp_path / "other.npz", images=np.zeros((2, 28, 28)), labels=np.zeros(2))
    with pytest.raises(ValueError, match=r"other\.npz: NPZ archive lacks \['x_train'.*it has \['images', 'labels'\]"):
        load_dataset("mnist", path=tmp_path / "other.npz")


def test_bad_labels_nan_pixels_and_pixels_outside_the_range_are_refused(tmp_path):
    arrays = _arrays()
    arrays["y_train"] = arrays["y_train"].astype(np.int32) + 5
    np.savez(tmp_path / "labels.npz", **arrays)
    with pytest.raises(ValueError, match=r"y_train has labels outside 0\.\.9"):
        load_dataset("mnist", path=tmp_path / "labels.npz")
    arrays = _arrays()
    arrays["x_train"] = arrays["x_train"].astype(np.float32)
    arrays["x_train"][0, 0, 0] = np.nan
    np.savez(tmp_path / "nan.npz", **arrays)
    with pytest.raises(ValueError, match="NaN"):
        load_dataset("mnist", path=tmp_path / "nan.npz", classes="all")
    arrays["x_train"][0, 0, 0] = 300.0
    np.savez(tmp_path / "big.npz", **arrays)
    with pytest.raises(ValueError, match=r"pixels lie in \[0, 300\], outside pixel_range=\(0, 255\)"):
        load_dataset("mnist", path=tmp_path / "big.npz", classes="all")


def test_pixel_range_option_for_images_stored_as_fractions(tmp_path):
    arrays = _arrays()
    arrays["x_train"] = arrays["x_train"] / 255.0
    arrays["x_test"] = arrays["x_test"] / 255.0
    np.savez(tmp_path / "frac.npz", **arrays)
    ds = load_dataset("mnist", path=tmp_path / "frac.npz", classes="all", pixel_range=(0, 1), seed=2)
    np.savez(tmp_path / "int.npz", **_arrays())
    ref = load_dataset("mnist", path=tmp_path / "int.npz", classes="all", seed=2)
    np.testing.assert_allclose(ds.x_train, ref.x_train, rtol=1e-6)
