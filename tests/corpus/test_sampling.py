"""Hash-priority samples: PriorityThreshold keeps what PrioritySample keeps, in O(capacity) memory."""
import random

import pytest
import xxhash

from corpus.sampling import PrioritySample, PriorityThreshold


def priority(key: str) -> int:
    return xxhash.xxh3_64_intdigest(key.encode())


def sampled(keys: list[str], capacity: int, k: int | None = None) -> list[str]:
    """Two passes, as a caller streams a file: add every priority, then keep the keys the cut takes."""
    threshold = PriorityThreshold(capacity)
    for key in keys:
        threshold.add(priority(key))
    cut = threshold.cut(k)
    return [key for key in keys if cut.takes(priority(key))]


def test_threshold_keeps_the_priority_sample_in_stream_order_whatever_the_order():
    keys = [f"doc-{i}:{j}" for i in range(700) for j in range(30)]  # 21,000 lines
    want = {key for _, key, _ in _priority_sample(keys, 5000).items()}
    kept = sampled(keys, 5000)
    assert len(kept) == 5000 and set(kept) == want
    assert kept == [key for key in keys if key in want]  # the stream's order, not the priorities'
    shuffled = keys[:]
    random.Random(3).shuffle(shuffled)
    assert set(sampled(shuffled, 5000)) == want
    # a smaller cut of the same threshold: the lowest priorities of the larger sample
    small = sampled(keys, 5000, 1200)
    assert len(small) == 1200 and set(small) == {key for _, key, _ in _priority_sample(keys, 1200).items()} <= want


def _priority_sample(keys: list[str], capacity: int) -> PrioritySample:
    sample = PrioritySample(capacity)
    for key in keys:
        sample.add(priority(key), key, None)
    return sample


def test_threshold_memory_is_bounded_by_its_capacity_not_the_stream():
    threshold = PriorityThreshold(100)
    for i in range(100_000):
        threshold.add(priority(f"k{i}"))
    assert threshold.seen == 100_000 and threshold._buf.size == 200


def test_a_stream_no_larger_than_the_cut_is_kept_whole_and_ties_at_the_boundary_stay_within_the_cut():
    assert sampled([f"k{i}" for i in range(50)], 50) == [f"k{i}" for i in range(50)]
    threshold = PriorityThreshold(3)
    for p in (9, 1, 7, 7, 7, 2):  # the 3 lowest are 1, 2 and one of the 7s (a hash collision)
        threshold.add(p)
    cut = threshold.cut()
    assert [p for p in (9, 1, 7, 7, 7, 2) if cut.takes(p)] == [1, 7, 2]
    assert not any(threshold.cut(0).takes(p) for p in (0, 1, 2))
    with pytest.raises(ValueError, match="capacity 3"):
        threshold.cut(4)
