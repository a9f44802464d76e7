"""Checkpoints: atomic, newest wins, an interrupted write leaves the last good one."""

import numpy as np

from sparkw2v import checkpoint


def test_newest_complete_checkpoint_wins_and_partial_writes_are_ignored(tmp_path):
    url = str(tmp_path / "ck")
    W = np.arange(6, dtype=np.float32).reshape(3, 2)
    checkpoint.save(url, 2, W, W * 2, {"seed": 1})
    checkpoint.save(url, 4, W + 1, W * 3, {"seed": 1})
    # a crash in the middle of writing the next one leaves only a temporary directory
    (tmp_path / "ck" / "_tmp-deadbeef").mkdir()
    (tmp_path / "ck" / "_tmp-deadbeef" / "W.npy").write_bytes(b"partial")
    got = checkpoint.latest(url)
    assert got.next_round == 4 and got.config == {"seed": 1} and got.vocab_size == 3
    np.testing.assert_array_equal(got.W, W + 1)
    np.testing.assert_array_equal(got.Wp, W * 3)
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == ["_tmp-deadbeef", "round-000004"]
    assert checkpoint.latest(str(tmp_path / "empty")) is None
