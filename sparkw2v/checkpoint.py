"""Checkpoints: which block states to keep, and the proof that a state belongs to a run.

The blocks of W and W' after every epoch are written to the block store anyway (that is how
they pass from one epoch's stage to the next, see ``blockstore``); a checkpoint is such a state
kept. Every random number derives from (seed, epoch, cycle, sub-epoch, block or shard), so the
number of epochs done is the whole random state: a resumed run gives the vectors of an
uninterrupted one. A state records the settings that decide the vectors and a fingerprint of
the vocabulary (words and counts), so that it is never continued with other settings or on
another corpus.
"""

from __future__ import annotations

import hashlib

import numpy as np

from .errors import InputError

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
    if diff:
        raise InputError(f"cannot resume: the checkpoint was made with other settings ({', '.join(diff)}); "
                         "resume with the same settings or train afresh with --overwrite")
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
