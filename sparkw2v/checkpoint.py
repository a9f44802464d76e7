"""Checkpoints: which block states to keep, and the proof that a state belongs to a run.

The blocks of W and W' after every epoch are written to the block store anyway (that is how
they pass from one epoch's stage to the next, see ``blockstore``); a checkpoint is such a state
kept. Every random number derives from (seed, epoch, cycle, sub-epoch, block or shard), so the
number of epochs done is the whole random state: a resumed run gives the vectors of an
uninterrupted one. A state records the settings that decide the vectors and a fingerprint of
the vocabulary (words and counts), so that it is never continued with other settings or on
another corpus.

Every block file of a state is recorded in its ``state.json`` with its size in bytes, its shape
and the sha256 of its bytes (the executor that writes a block computes them as it writes; the
driver, which holds no vector, records what the tasks report). A state is verified against its
record before it is trained from: a block that differs, and a record that is not one, is a
:class:`~sparkw2v.errors.CheckpointError`, never retried and never taken for divergence.
"""

from __future__ import annotations

import hashlib
import json
from typing import Callable

import numpy as np

from .errors import CheckpointError, InputError

# settings that do not change the vectors
IGNORED_SETTINGS = frozenset({"checkpoint_every", "max_model_mb"})


def vocabulary_fingerprint(words, counts: np.ndarray) -> str:
    """sha256 (hex) of the words, in id order, and their counts."""
    digest = hashlib.sha256()
    for word in words:
        digest.update(word.encode("utf-8", "surrogatepass"))
        digest.update(b"\x00\xff")
    digest.update(np.asarray(counts, dtype="<i8").tobytes())
    return digest.hexdigest()


def check_compatible(state: dict, settings: dict, fingerprint: str) -> None:
    """Raise InputError unless ``state`` was made with these settings on this vocabulary.

    Args:
        state: a state record (``blockstore.BlockStore.read_state``).
        settings: this run's settings, ``num_blocks`` resolved.
        fingerprint: this run's :func:`vocabulary_fingerprint`.
    """
    saved = state.get("settings", {})
    diff = sorted(k for k in set(settings) | set(saved)
                  if k not in IGNORED_SETTINGS and settings.get(k) != saved.get(k))
    if "init_from" in diff:
        def start(model):
            return f"a warm start from {model!r}" if model else "a fresh start (no --init-from)"
        raise InputError(f"cannot resume: the checkpoint is of {start(saved.get('init_from'))}, this run is of "
                         f"{start(settings.get('init_from'))}: resume with the --init-from the run began with, or "
                         "train afresh with --overwrite")
    if diff:
        was = ", ".join(f"{k} {saved.get(k)!r} (now {settings.get(k)!r})" for k in diff)
        older = (" (--cycles-per-epoch 16 for a checkpoint that sparkw2v <= 0ac4a40 made with the default R at "
                 "more than 64 blocks)" if "cycles_per_epoch" in diff else "")
        raise InputError(f"cannot resume: the checkpoint was made with other settings ({was}); resume with the "
                         f"same settings{older} or train afresh with --overwrite")
    if state.get("vocabulary") != fingerprint:
        raise InputError(
            f"cannot resume: the checkpoint was made on another corpus (its vocabulary of "
            f"{state.get('vocab_size')} words and their counts differ from this corpus's); resume "
            "with the same input or train afresh with --overwrite")


def states_to_remove(existing: list[int], newest: int, checkpoint_every: int, epochs: int) -> list[int]:
    """Which states to delete once the state after ``newest`` epochs is complete.

    The newest is kept (the next epoch starts from it). With ``checkpoint_every`` N > 0 the
    newest state after a multiple of N epochs (or after the last epoch) is kept as well; with
    N = 0 nothing else is.
    """
    keep = {newest}
    if checkpoint_every:
        marks = [s for s in existing + [newest]
                 if s <= newest and (s % checkpoint_every == 0 or s == epochs)]
        if marks:
            keep.add(max(marks))
    return sorted(s for s in existing if s not in keep)


# the fields of a state record (state.json) and their types; "blocks" maps a block file's name
# (W-00005.npy) to its record {"bytes": int, "shape": [rows, N], "sha256": 64 hex digits}
STATE_FIELDS = {"settings": dict, "vocabulary": str, "vocab_size": int, "num_blocks": int, "shards": int,
                "epochs_done": int, "blocks": dict}
BLOCK_FIELDS = {"bytes": int, "shape": list, "sha256": str}


def block_record(nbytes: int, shape: tuple[int, int], sha256: str) -> dict:
    """The record of one block file: its size in bytes, (rows, N) and the sha256 (hex) of its bytes."""
    return {"bytes": int(nbytes), "shape": [int(shape[0]), int(shape[1])], "sha256": sha256}


def _typed(value, kind) -> bool:
    return isinstance(value, kind) and not (kind is int and isinstance(value, bool))


def record_problem(state, epochs_done: int, block_names: Callable[[int], list[str]]) -> str | None:
    """What is wrong with a parsed state record, or None if it is a valid one.

    Args:
        state: the parsed ``state.json``.
        epochs_done: the epochs of its directory (``state-000003`` -> 3).
        block_names: num_blocks -> the names of the block files a state of that many blocks
            records (``W-00000.npy``, ...).
    """
    if not isinstance(state, dict):
        return f"holds a JSON {type(state).__name__}, not an object"
    for name, kind in STATE_FIELDS.items():
        if name not in state:
            return f"lacks the field {name!r}"
        if not _typed(state[name], kind):
            return f"has {name!r} = {str(state[name])[:40]!r}, not a JSON {kind.__name__}"
    if state["epochs_done"] != epochs_done:
        return f"says epochs_done = {state['epochs_done']}, not the {epochs_done} of its directory"
    if state["num_blocks"] < 1 or state["settings"].get("num_blocks", state["num_blocks"]) != state["num_blocks"]:
        return f"says num_blocks = {state['num_blocks']}, which its settings do not"
    names = block_names(state["num_blocks"])
    missing = sorted(set(names) - set(state["blocks"]))
    if missing:
        return f"has no record of the block file {missing[0]}"
    for name in names:
        rec = state["blocks"][name]
        if not isinstance(rec, dict) or not all(_typed(rec.get(k), t) for k, t in BLOCK_FIELDS.items()) \
                or len(rec["shape"]) != 2 or not all(_typed(x, int) and x >= 0 for x in rec["shape"]) \
                or len(rec["sha256"]) != 64:
            return f"has a malformed record of the block file {name}: {json.dumps(rec)[:80]}"
    return None


def parse_state(data: bytes, path: str, epochs_done: int, block_names, fix: str) -> dict:
    """The state record in ``data`` (the bytes of the file ``path``), checked.

    Args:
        block_names: num_blocks -> the block file names the record must hold.
        fix: what the user can do about a bad record (:func:`damage_fix`).

    Raises:
        CheckpointError: not UTF-8 JSON, a field missing or of the wrong type, a block without
            its record; one line naming ``path`` and ``fix``.
    """
    try:
        state = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise CheckpointError(f"the checkpoint record {path} is not JSON ({exc}): it was damaged after it "
                              f"was written; {fix}") from None
    problem = record_problem(state, epochs_done, block_names)
    if problem is not None:
        raise CheckpointError(f"the checkpoint record {path} {problem}: it is damaged or was written by another "
                              f"version of sparkw2v; {fix}")
    return state


def block_problem(record: dict, nbytes: int, shape, sha256: str | None) -> str | None:
    """How a block file differs from its record (``block_record``), or None if it matches.

    Args:
        nbytes: the file's size; shape: the (rows, N) its .npy header says, or None if it has
            no valid header; sha256: hex digest of its bytes (None: not computed, e.g. the
            size differs already).
    """
    if nbytes != record["bytes"]:
        diff = abs(nbytes - record["bytes"])
        how = f"truncated by {diff} bytes" if nbytes < record["bytes"] else f"{diff} bytes appended"
        return f"holds {nbytes} bytes, not the {record['bytes']} written ({how})"
    if shape is None:
        return "has no valid .npy header of float32 rows"
    if list(shape) != record["shape"]:
        return f"holds a ({', '.join(map(str, shape))}) array, not the ({record['shape'][0]}, {record['shape'][1]}) written"
    if sha256 is not None and sha256 != record["sha256"]:
        return ("holds other bytes than were written (its sha256 differs from the one recorded in "
                "state.json: overwritten or corrupted)")
    return None


def damage_fix(state_dir: str, older: list[int]) -> str:
    """What to do about a damaged state in ``state_dir``, given the epochs of the older complete
    states kept beside it."""
    fix = "train afresh with --overwrite (without --resume)"
    if older:
        fix += f", or remove {state_dir} to resume from the checkpoint after {older[-1]} epoch(s)"
    return fix


def damaged_message(epochs_done: int, url: str, problems: list[str], total: int | None, fix: str) -> str:
    """The one line that refuses a state whose block files differ from their records.

    Args:
        problems: one "block file PATH what differs" per damaged block file; total: block
            files checked (None: not known, the damage was met while reading).
    """
    count = f" ({len(problems)} of {total} block files differ)" if total else ""
    return f"the checkpoint after {epochs_done} epoch(s) in {url} is damaged: {problems[0]}{count}; {fix}"


def raised_in(text: str, error: str = "CheckpointError") -> str | None:
    """The message of a CheckpointError (or another ``error`` class, by name) that a task raised,
    found in a failed Spark job's error text (the task's Python traceback is in it), or None:
    damage is deterministic, so the caller reports it instead of retrying or calling it a failed
    write."""
    marker = f"{error}: "
    for line in text.splitlines():
        if marker in line:
            return " ".join(line.split(marker, 1)[1].split())[:500]
    return None
