"""Checkpoints and the block store: states written by blocks and read back in the next epoch's
layout, the newest complete state wins, a state belongs to its settings and vocabulary."""

import fsspec
import numpy as np
import pytest

import hashlib
import json

from sparkw2v import checkpoint
from sparkw2v.blockstore import Aborted, BlockStore, block_name
from sparkw2v.errors import CheckpointError, InputError
from sparkw2v.layout import BlockLayout


def layouts(V=97, P=5):
    weights = np.linspace(100, 1, V)
    return BlockLayout.build(weights, P, 1, 0), BlockLayout.build(weights, P, 1, 1)


def record(P, blocks):
    """A complete state record of P blocks (as the trainer commits it), but epochs_done."""
    return {"settings": {"seed": 1, "num_blocks": P}, "vocabulary": "0" * 64, "vocab_size": 97, "num_blocks": P,
            "shards": 1, "blocks": blocks}


def write_state(store, epochs_done, V=97, N=6, P=5):
    """W and W' of a state after ``epochs_done`` epochs, committed with their records; returns W."""
    before, after = layouts(V, P)
    W = np.random.default_rng(epochs_done).standard_normal((V, N)).astype(np.float32)
    blocks = {}
    for matrix, M in (("W", W), ("Wp", -W)):
        for b in range(P):
            blocks[block_name(matrix, b)] = store.write_block(epochs_done, matrix, b, M[before.members(b)], before, after)
    store.commit_state(epochs_done, record(P, blocks))
    return W


@pytest.mark.parametrize("url", ["local", "memory://blocks-test"])
def test_blocks_written_in_one_layout_read_back_in_the_next(tmp_path, url):
    """The rows of W, kept by blocks of epoch 0's layout, come back as blocks of epoch 1's."""
    store = BlockStore(str(tmp_path / "blocks") if url == "local" else url)
    before, after = layouts()
    V, N = 97, 6
    W = np.arange(V * N, dtype=np.float32).reshape(V, N)
    blocks = {}
    for b in range(before.num_blocks):
        for matrix in ("W", "Wp"):
            blocks[block_name(matrix, b)] = store.write_block(1, matrix, b, W[before.members(b)], before, after)
    assert store.states() == []  # not complete until the driver commits it
    store.commit_state(1, record(before.num_blocks, blocks))
    assert store.states() == [1] and store.read_state(1)["epochs_done"] == 1
    assert store.check_state(1, store.read_state(1)) == []
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
    store.commit_state(2, record(5, {}))
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
    with pytest.raises(InputError, match=r"other settings \(num_blocks 4 \(now 8\)\)"):
        checkpoint.check_compatible(state, {"window": 5, "num_blocks": 8}, fp)
    # a checkpoint of the default R = 16 at 128 blocks, resumed where the default is 5
    old = {**state, "settings": {"window": 5, "num_blocks": 128, "cycles_per_epoch": 16}}
    with pytest.raises(InputError, match=r"other settings \(cycles_per_epoch 16 \(now 5\)\); resume with the same "
                                         r"settings \(--cycles-per-epoch 16 "):
        checkpoint.check_compatible(old, {"window": 5, "num_blocks": 128, "cycles_per_epoch": 5}, fp)
    with pytest.raises(InputError, match="another corpus"):
        checkpoint.check_compatible(state, {"window": 5, "num_blocks": 4}, "0" * 64)


def test_a_block_record_is_the_size_shape_and_sha256_of_the_file_written(tmp_path):
    store = BlockStore(str(tmp_path / "b"))
    before, after = layouts()
    W = np.random.default_rng(0).standard_normal((97, 6)).astype(np.float32)
    rec = store.write_block(1, "W", 2, W[before.members(2)], before, after)
    data = (tmp_path / "b" / "state-000001" / "W-00002.npy").read_bytes()
    assert rec == {"bytes": len(data), "shape": [before.size(2), 6], "sha256": hashlib.sha256(data).hexdigest()}
    perm = np.argsort(after.labels[before.members(2)], kind="stable")
    np.testing.assert_array_equal(np.load(tmp_path / "b" / "state-000001" / "W-00002.npy"), W[before.members(2)][perm])


def _flip(data, at):
    data[at] ^= 0x01


def _nan_garbage(data, at):
    data[at:at + 8] = np.full(2, np.nan, np.float32).tobytes()


def _finite_garbage(data, at):
    data[at:at + 8] = np.array([0.25, -3.5], np.float32).tobytes()


DAMAGE = {  # name: (how the file's bytes change, what the refusal says)
    "one byte flipped": (lambda d: _flip(d, len(d) - 5), "its sha256 differs"),
    "NaN garbage": (lambda d: _nan_garbage(d, 200), "its sha256 differs"),
    "finite garbage": (lambda d: _finite_garbage(d, 200), "its sha256 differs"),
    "header byte flipped": (lambda d: _flip(d, 3), "no valid .npy header"),
    "truncated": (lambda d: d.__delitem__(slice(len(d) - 12, None)), "(truncated by 12 bytes)"),
    "appended to": (lambda d: d.extend(b"\0" * 8), "(8 bytes appended)"),
    "wrong shape": (lambda d: d.__setitem__(slice(0, None), _npy(np.zeros((len(d) - 128) // 12 * 3, np.float32)
                                                                .reshape(-1, 3))), "array, not the"),
}


def _npy(array):
    import io
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_block_differs_from_its_record(tmp_path, damage):
    """Whatever happened to a block file, its check names the file and what differs; the
    other files still match."""
    store = BlockStore(str(tmp_path / "b"))
    write_state(store, 2)
    state = store.read_state(2)
    path = tmp_path / "b" / "state-000002" / "Wp-00003.npy"
    data = bytearray(path.read_bytes())
    how, message = DAMAGE[damage]
    how(data)
    path.write_bytes(bytes(data))
    problems = store.check_state(2, state)
    assert len(problems) == 1 and problems[0].startswith(f"block file {path} "), problems
    assert message in problems[0], problems[0]


def test_nan_garbage_is_damage_of_the_same_size_and_shape(tmp_path):
    """NaN written over a block keeps its size and header: only the checksum tells."""
    store = BlockStore(str(tmp_path / "b"))
    write_state(store, 1)
    path = tmp_path / "b" / "state-000001" / "W-00000.npy"
    data = bytearray(path.read_bytes())
    _nan_garbage(data, 140)
    path.write_bytes(bytes(data))
    assert np.isnan(np.load(path)).any() and np.load(path).shape == tuple(store.read_state(1)["blocks"]["W-00000.npy"]["shape"])
    assert "sha256 differs" in store.check_block(1, "W", 0, store.read_state(1)["blocks"]["W-00000.npy"])


def test_a_missing_block_file_is_named(tmp_path):
    store = BlockStore(str(tmp_path / "b"))
    write_state(store, 1)
    (tmp_path / "b" / "state-000001" / "W-00004.npy").unlink()
    problems = store.check_state(1, store.read_state(1))
    assert problems == [f"block file {tmp_path / 'b' / 'state-000001' / 'W-00004.npy'} is missing"]


def test_a_truncated_or_extended_block_is_refused_by_every_reader(tmp_path):
    """Reading rows of a block (a task of the next epoch, the model writer) checks the file's
    size against its header, even where the rows read lie before the damage."""
    store = BlockStore(str(tmp_path / "b"))
    write_state(store, 1)
    before, after = layouts()
    path = tmp_path / "b" / "state-000001" / "W-00001.npy"
    good = path.read_bytes()
    for bad in (good[:-4], good + b"\0\0\0\0"):
        path.write_bytes(bad)
        with pytest.raises(CheckpointError, match=f"block file {path} holds {len(bad)} bytes"):
            store.read_matrix(1, "W", before, after, 6)


NOT_A_RECORD = {  # what state.json holds: what the refusal says
    b"{not json": "is not JSON",
    b"\xff\xfe": "is not JSON",
    b"": "is not JSON",
    b"[1, 2]": "holds a JSON list, not an object",
    b'{"settings": {}}': "lacks the field 'vocabulary'",
}


@pytest.mark.parametrize("content", sorted(NOT_A_RECORD))
def test_a_state_json_that_is_not_a_record_is_one_error_naming_the_file_and_the_fix(tmp_path, content):
    store = BlockStore(str(tmp_path / "b"))
    write_state(store, 1)
    write_state(store, 2)
    path = tmp_path / "b" / "state-000002" / "state.json"
    path.write_bytes(content)
    assert store.states() == [1, 2]
    with pytest.raises(CheckpointError) as info:
        store.read_state(2)
    message = str(info.value)
    assert "\n" not in message and f"the checkpoint record {path} {NOT_A_RECORD[content]}" in message
    assert "train afresh with --overwrite" in message
    assert f"remove {tmp_path / 'b' / 'state-000002'} to resume from the checkpoint after 1 epoch(s)" in message
    assert path.read_bytes() == content  # refused, not repaired or removed


@pytest.mark.parametrize("change, message", [
    (lambda s: s.__setitem__("vocab_size", "97"), "has 'vocab_size' = '97', not a JSON int"),
    (lambda s: s.__setitem__("num_blocks", True), "has 'num_blocks' = 'True', not a JSON int"),
    (lambda s: s.__setitem__("epochs_done", 3), "says epochs_done = 3, not the 1 of its directory"),
    (lambda s: s["blocks"].pop("Wp-00004.npy"), "has no record of the block file Wp-00004.npy"),
    (lambda s: s["blocks"]["W-00000.npy"].__setitem__("sha256", "x"), "has a malformed record of the block file W-00000.npy"),
    (lambda s: s["blocks"]["W-00000.npy"].__setitem__("shape", [3]), "has a malformed record of the block file W-00000.npy"),
    (lambda s: s.__setitem__("num_blocks", 4), "says num_blocks = 4, which its settings do not"),
])
def test_a_state_json_with_a_field_missing_or_of_the_wrong_type_is_refused(tmp_path, change, message):
    store = BlockStore(str(tmp_path / "b"))
    write_state(store, 1)
    path = tmp_path / "b" / "state-000001" / "state.json"
    state = json.loads(path.read_text())
    change(state)
    path.write_text(json.dumps(state))
    with pytest.raises(CheckpointError, match="it is damaged or was written by another version of sparkw2v; "
                       "train afresh with --overwrite") as info:
        store.read_state(1)
    assert f"the checkpoint record {path} {message}" in str(info.value)


def test_the_damage_message_names_the_file_the_count_and_the_fix():
    line = checkpoint.damaged_message(2, "/w", ["block file /w/state-000002/W-00001.npy is missing"], 4,
                                      checkpoint.damage_fix("/w/state-000002", [1]))
    assert line == ("the checkpoint after 2 epoch(s) in /w is damaged: block file /w/state-000002/W-00001.npy is "
                    "missing (1 of 4 block files differ); train afresh with --overwrite (without --resume), or "
                    "remove /w/state-000002 to resume from the checkpoint after 1 epoch(s)")
    assert checkpoint.damage_fix("/w/state-000001", []) == "train afresh with --overwrite (without --resume)"
