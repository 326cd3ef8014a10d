"""The seeded train/validation split that both scripts use."""
import numpy as np
import pytest

from convae.data import split_indices


@pytest.fixture
def labels():
    return np.random.default_rng(0).integers(0, 10, 5000)


def test_the_split_is_a_partition_that_keeps_every_class_share(labels):
    train, val = split_indices(len(labels), 0.1, 1, labels)
    assert np.array_equal(np.sort(np.concatenate([train, val])), np.arange(len(labels)))
    for cls in range(10):
        assert np.sum(labels[val] == cls) == round(np.sum(labels == cls) * 0.1)


def test_the_same_seed_gives_the_same_split_and_another_seed_another(labels):
    assert np.array_equal(split_indices(len(labels), 0.1, 1, labels)[1], split_indices(len(labels), 0.1, 1, labels)[1])
    assert not np.array_equal(split_indices(len(labels), 0.1, 1, labels)[1],
                              split_indices(len(labels), 0.1, 2, labels)[1])


@pytest.mark.parametrize("with_labels", [True, False])
def test_a_smaller_share_holds_out_a_subset_of_a_larger_one(labels, with_labels):
    """What lets benchmarks/validation.py compare runs with other --val-split values."""
    given = labels if with_labels else None
    small, large = split_indices(len(labels), 0.05, 1, given)[1], split_indices(len(labels), 0.1, 1, given)[1]
    assert len(small) < len(large) and np.isin(small, large).all()


def test_each_epoch_has_its_own_order_drawn_from_the_seed_and_the_epoch_alone():
    """What lets a resumed run visit the images as the uninterrupted one did."""
    from convae.batching import epoch_order
    first, second = epoch_order(500, 1, 0), epoch_order(500, 1, 1)
    assert sorted(first) == list(range(500)) and not np.array_equal(first, second)
    assert np.array_equal(epoch_order(500, 1, 1), second) and not np.array_equal(epoch_order(500, 2, 1), second)


def test_a_tiny_share_still_holds_out_one_image():
    train, val = split_indices(10, 0.01, 0)
    assert len(val) == 1 and len(train) == 9


def test_limit_refuses_more_images_than_the_file_holds():
    from convae.data import settings
    limit = {p.name: p for p in settings(0.2, "")}["limit"]
    assert limit.fit(4, {"n_images": 4}) == 4
    with pytest.raises(ValueError) as info:
        limit.fit(5, {"n_images": 4})
    assert str(info.value) == "expected at most 4 (the images in the file), got 5"
