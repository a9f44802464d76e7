"""Round planning, learning-rate decay and the per-row combination rule."""

import numpy as np
import pytest

from sparkw2v import averaging, schedule
from sparkw2v.errors import TrainingDivergedError


def test_rounds_cover_all_words_with_linear_alpha():
    rounds = schedule.plan_rounds(np.array([30, 10, 60]), epochs=2, alpha=0.025, min_alpha=0.0001)
    assert len(rounds) == 6
    assert rounds[0].progress_start == 0 and rounds[-1].progress_end == pytest.approx(1.0)
    for a, b in zip(rounds, rounds[1:]):
        assert a.progress_end == pytest.approx(b.progress_start)
        assert a.alpha_end == pytest.approx(b.alpha_start)
    assert rounds[0].alpha_start == 0.025 and rounds[-1].alpha_end == pytest.approx(0.0001)
    assert rounds[1].progress_end == pytest.approx(40 / 200)
    assert rounds[1].alpha_end == pytest.approx(0.025 - (0.025 - 0.0001) * 0.2)


def test_rounds_train_at_most_concurrency_partitions():
    words = np.array([[5, 5, 5], [1, 1, 1], [2, 2, 2], [3, 3, 3], [4, 4, 4]])  # 5 partitions, 3 chunks
    rounds = schedule.plan_rounds(words, epochs=1, alpha=0.02, min_alpha=0.0, concurrency=2)
    assert [r.partitions for r in rounds[:3]] == [(0, 1), (2, 3), (4,)]
    assert [(r.chunk, r.words) for r in rounds[:3]] == [(0, 6), (0, 5), (0, 4)]
    assert len(rounds) == 9 and rounds[0].per_epoch == 9
    assert rounds[-1].progress_end == pytest.approx(1.0)
    assert schedule.chunks_per_partition(10, 8, 2) == 3
    assert schedule.chunks_per_partition(10, 2, 2) == 10
    assert schedule.chunks_per_partition(10, 1, 2) == 10
    assert schedule.chunks_per_partition(3, 64, 2) == 1


def test_task_seed_depends_on_every_coordinate():
    seeds = {schedule.task_seed(1, e, r, p) for e in range(3) for r in range(3) for p in range(3)}
    assert len(seeds) == 27
    assert schedule.task_seed(1, 2, 0, 1) == schedule.task_seed(1, 2, 0, 1)


def test_combine_averages_per_row_over_partitions_that_touched_it():
    target = np.zeros((4, 2), np.float32)
    u1 = (np.array([0, 1], np.int32), np.array([[1, 1], [2, 2]], np.float32))
    u2 = (np.array([1, 2], np.int32), np.array([[4, 4], [3, 3]], np.float32))
    changed = averaging.combine_rows(target, [u1, u2], gamma=1.0)
    np.testing.assert_array_equal(changed, [0, 1, 2])
    np.testing.assert_allclose(target, [[1, 1], [3, 3], [3, 3], [0, 0]])
    summed = np.zeros((4, 2), np.float32)
    averaging.combine_rows(summed, [u1, u2], gamma=0.0)
    np.testing.assert_allclose(summed, [[1, 1], [6, 6], [3, 3], [0, 0]])
    scaled = np.zeros((4, 2), np.float32)
    averaging.combine_rows(scaled, [u1, u2], gamma=0.5)
    np.testing.assert_allclose(scaled[1], [6 / np.sqrt(2)] * 2, rtol=1e-6)


def test_check_finite_names_round_and_words():
    W = np.zeros((3, 2), np.float32)
    W[2, 1] = np.nan
    with pytest.raises(TrainingDivergedError, match=r"round 7: 1 row\(s\) of W .*'c'"):
        averaging.check_finite(7, [("W", W, np.array([0, 2]))], ["a", "b", "c"])
    averaging.check_finite(7, [("W", W, np.array([0, 1]))], ["a", "b", "c"])
