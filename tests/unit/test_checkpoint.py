"""Checkpoints and the block store: states written by blocks and read back in the next epoch's
layout, the newest complete state wins, a state belongs to its settings and vocabulary."""

import fsspec
import numpy as np
import pytest

from sparkw2v import checkpoint
from sparkw2v.blockstore import Aborted, BlockStore
from sparkw2v.errors import InputError
from sparkw2v.layout import BlockLayout


def layouts(V=97, P=5):
    weights = np.linspace(100, 1, V)
    return BlockLayout.build(weights, P, 1, 0), BlockLayout.build(weights, P, 1, 1)


@pytest.mark.parametrize("url", ["local", "memory://blocks-test"])
def test_blocks_written_in_one_layout_read_back_in_the_next(tmp_path, url):
    """The rows of W, kept by blocks of epoch 0's layout, come back as blocks of epoch 1's."""
    store = BlockStore(str(tmp_path / "blocks") if url == "local" else url)
    before, after = layouts()
    V, N = 97, 6
    W = np.arange(V * N, dtype=np.float32).reshape(V, N)
    for b in range(before.num_blocks):
        store.write_block(1, "W", b, W[before.members(b)], before, after)
    assert store.states() == []  # not complete until the driver commits it
    store.commit_state(1, {"settings": {"seed": 1}})
    assert store.states() == [1] and store.read_state(1)["epochs_done"] == 1
    for b in range(after.num_blocks):
        rows, nbytes = store.read_block(1, "W", b, before, after, N)
        np.testing.assert_array_equal(rows, W[after.members(b)])
        assert nbytes == rows.nbytes
    np.testing.assert_array_equal(store.read_matrix(1, "W", before, after, N), W)
    store.remove_state(1)
    assert store.states() == []
    if url != "local":
        fsspec.filesystem("memory").rm("/blocks-test", recursive=True)


def test_incomplete_state_is_ignored_and_a_missing_block_is_an_error(tmp_path):
    store = BlockStore(str(tmp_path / "b"))
    before, after = layouts()
    W = np.ones((97, 3), np.float32)
    for b in range(before.num_blocks):
        store.write_block(2, "W", b, W[before.members(b)], before, after)
    store.commit_state(2, {})
    store.write_block(3, "W", 0, W[before.members(0)], before, after)  # a run killed mid-epoch
    assert store.states() == [2]
    with pytest.raises(FileNotFoundError):
        store.read_block(3, "W", 1, before, after, 3)


def test_ring_files_are_read_once_and_abort_stops_a_waiting_task(tmp_path):
    store = BlockStore(str(tmp_path / "b"))
    run = store.new_run()
    sender = store.exchange(run, 0, 0, 1, 2, timeout=5)
    receiver = store.exchange(run, 0, 0, 0, 2, timeout=5)
    rows = np.random.default_rng(0).random((4, 3)).astype(np.float32)
    sender.send(0, 1, 3, rows)
    np.testing.assert_array_equal(receiver.receive(0, 1, 3, (4, 3)), rows)
    assert not list((tmp_path / "b").rglob("h-*"))  # consumed
    sender.abort({"reason": "nan"})
    with pytest.raises(Aborted):
        receiver.receive(0, 2, 3, (4, 3))
    # another attempt has a directory of its own
    other = store.exchange(run, 0, 1, 0, 2, timeout=0.3)
    with pytest.raises(TimeoutError, match="waited 0 s for W' block 3"):
        other.receive(0, 2, 3, (4, 3))
    store.remove_run(run)
    assert not (tmp_path / "b" / f"run-{run}").exists()


def test_states_kept_as_checkpoints():
    # checkpoint_every 0: only the state the next epoch starts from
    assert checkpoint.states_to_remove([1, 2], 3, 0, 5) == [1, 2]
    # every 2 epochs: the newest multiple of 2 stays beside the newest state
    assert checkpoint.states_to_remove([2], 3, 2, 5) == []
    assert checkpoint.states_to_remove([2, 3], 4, 2, 5) == [2, 3]
    assert checkpoint.states_to_remove([4], 5, 2, 5) == [4]  # the last epoch's state is a checkpoint
    assert checkpoint.states_to_remove([], 1, 1, 3) == []


def test_a_state_belongs_to_its_settings_and_vocabulary():
    fp = checkpoint.vocabulary_fingerprint(["a", "b"], np.array([5, 3]))
    assert fp != checkpoint.vocabulary_fingerprint(["a", "b"], np.array([5, 4]))
    assert fp != checkpoint.vocabulary_fingerprint(["a", "c"], np.array([5, 3]))
    assert fp != checkpoint.vocabulary_fingerprint(["ab", ""], np.array([5, 3]))
    state = {"settings": {"window": 5, "num_blocks": 4, "checkpoint_every": 1}, "vocabulary": fp, "vocab_size": 2}
    checkpoint.check_compatible(state, {"window": 5, "num_blocks": 4, "checkpoint_every": 3}, fp)
    with pytest.raises(InputError, match=r"other settings \(num_blocks\)"):
        checkpoint.check_compatible(state, {"window": 5, "num_blocks": 8}, fp)
    with pytest.raises(InputError, match="another corpus"):
        checkpoint.check_compatible(state, {"window": 5, "num_blocks": 4}, "0" * 64)
