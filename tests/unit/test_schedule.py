"""The learning rate and seeds of every sub-epoch."""

import pytest

from sparkw2v.schedule import Schedule, linear_alpha, resolve_cycles


def test_alpha_decays_linearly_over_all_sub_epochs_and_is_continuous():
    s = Schedule(epochs=2, cycles=3, num_blocks=4, alpha=0.025, min_alpha=0.0001, seed=1)
    steps = [(e, r, b) for e in range(2) for r in range(3) for b in range(4)]
    assert [s.step(*x) for x in steps] == list(range(24))
    ranges = [s.alpha_range(*x) for x in steps]
    assert ranges[0][0] == 0.025 and ranges[-1][1] == pytest.approx(0.0001)
    for (a0, a1), (b0, _) in zip(ranges, ranges[1:]):
        assert a1 == pytest.approx(b0) and a1 < a0
    assert ranges[5][1] == pytest.approx(linear_alpha(6 / 24, 0.025, 0.0001))


def test_seeds_differ_by_every_coordinate():
    s = Schedule(3, 2, 4, 0.025, 0.0001, seed=7)
    seeds = {s.stratum_seed(e, r, b, k) for e in range(3) for r in range(2) for b in range(4) for k in range(4)}
    assert len(seeds) == 3 * 2 * 4 * 4
    pair = {s.pair_seed(e, c) for e in range(3) for c in range(50)}
    assert len(pair) == 150 and not pair & seeds
    assert Schedule(3, 2, 4, 0.025, 0.0001, seed=8).pair_seed(0, 0) != s.pair_seed(0, 0)
    assert all(0 <= x < 2**64 for x in seeds | pair)


def test_the_default_cycles_are_16_up_to_64_blocks_and_5_above():
    # 0 is the default: a task of P = 128 blocks on 128 tasks waits for each of the P R hand-overs
    assert [resolve_cycles(0, P) for P in (1, 2, 32, 64, 65, 128, 512)] == [16, 16, 16, 16, 5, 5, 5]
    # a stated R is kept at every P
    assert [resolve_cycles(R, P) for R, P in ((16, 128), (3, 2), (1, 1000))] == [16, 3, 1]
    with pytest.raises(ValueError):
        resolve_cycles(-1, 4)
    with pytest.raises(ValueError):
        resolve_cycles(0, 0)
