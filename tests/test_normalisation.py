"""Normalisation statistics come from the training part only (no test images leak into them)."""

import numpy as np
import pytest

from collusion.data.offline import prepare_offline
from collusion.data.prepared import load_dataset, random_split

FRACTIONS = [0.6, 0.15, 0.25]


def normalised(dataset, part):
    return dataset.normalise(dataset.split(part).x).numpy()


def test_digits_is_standardised_on_its_training_part(tmp_path):
    path = tmp_path / "digits.npz"
    prepare_offline("digits", path)
    with np.load(path) as archive:
        assert "mean" not in archive.files  # nothing computed over all 1797 images is stored
    dataset = load_dataset(path, FRACTIONS, split_seed=0)
    train = normalised(dataset, "train")
    assert train.mean() == pytest.approx(0.0, abs=1e-5) and train.std() == pytest.approx(
        1.0, abs=1e-5
    )
    assert abs(normalised(dataset, "test").mean()) > 1e-4  # the test part is not the reference


def test_test_images_do_not_change_the_statistics(tmp_path):
    path = tmp_path / "digits.npz"
    prepare_offline("digits", path)
    reference = load_dataset(path, FRACTIONS, split_seed=0)
    with np.load(path) as archive:
        arrays = {key: archive[key] for key in archive.files}
    test_idx = random_split(len(arrays["y"]), FRACTIONS, 0)[2]
    arrays["X"][test_idx] = 16  # saturate every test image
    altered = tmp_path / "altered.npz"
    np.savez(altered, **arrays)
    dataset = load_dataset(altered, FRACTIONS, split_seed=0)
    np.testing.assert_array_equal(normalised(dataset, "train"), normalised(reference, "train"))
    assert (dataset.split("test").x == 16).all()  # the alteration did reach the test part
