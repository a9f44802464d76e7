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


def test_failure_while_checkpointing_keeps_the_last_good_one(tmp_path, monkeypatch):
    url = str(tmp_path / "ck")
    W = np.ones((4, 3), np.float32)
    checkpoint.save(url, 5, W, W, {"seed": 1})
    (tmp_path / "ck" / "_tmp-stale").mkdir()  # left by a run killed while checkpointing
    real = checkpoint._save_array

    def failing(fs, path, array):
        if path.endswith("Wp.npy"):
            raise OSError(28, "No space left on device")
        real(fs, path, array)

    monkeypatch.setattr(checkpoint, "_save_array", failing)
    try:
        checkpoint.save(url, 10, W * 2, W * 2, {"seed": 1})
    except OSError:
        pass
    else:
        raise AssertionError("the failing write did not raise")
    got = checkpoint.latest(url)
    assert got.next_round == 5 and checkpoint.latest_round(url) == 5
    np.testing.assert_array_equal(got.W, W)
    # the failed attempt cleaned up after itself, and the stale directory went with the next save
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == ["round-000005"]
    monkeypatch.setattr(checkpoint, "_save_array", real)
    checkpoint.save(url, 10, W * 2, W * 2, {"seed": 1})
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == ["round-000010"]
