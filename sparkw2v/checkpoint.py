"""Atomic training checkpoints through fsspec: W, W', the next round and the settings.

A checkpoint is written under a temporary name and renamed to ``round-NNNNNN`` only when
complete; older ones are removed after that, so the last good checkpoint survives a crash
during checkpointing. Arrays are stored with ``numpy.save`` (no pickle). Every random number
of a round derives from (seed, epoch, round, partition), so the round counter is the whole
random state: a resumed run gives the same vectors as an uninterrupted one.
"""

from __future__ import annotations

import io
import json
import uuid
from dataclasses import dataclass

import numpy as np

from . import storage
from .errors import InputError

_PREFIX = "round-"


@dataclass(frozen=True)
class Checkpoint:
    """Parameters after ``next_round`` rounds: W, W' (V, N) float32 and the settings used."""

    next_round: int
    W: np.ndarray
    Wp: np.ndarray
    config: dict
    vocab_size: int


def _save_array(fs, path: str, array: np.ndarray) -> None:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    with fs.open(path, "wb") as fh:
        fh.write(buf.getvalue())


def _load_array(fs, path: str) -> np.ndarray:
    with fs.open(path, "rb") as fh:
        return np.load(io.BytesIO(fh.read()), allow_pickle=False)


def save(url: str, next_round: int, W: np.ndarray, Wp: np.ndarray, config: dict) -> None:
    """Write a checkpoint after ``next_round`` rounds into the directory ``url``.

    Args:
        W, Wp: (V, N) float32 center and context vectors.
        config: the settings that decide the vectors (checked on resume).

    Raises:
        OSError: the filesystem failed; the previous checkpoint is untouched.
    """
    fs, path = storage.url_to_fs(url)
    fs.makedirs(path, exist_ok=True)
    for stale in fs.ls(path, detail=False):  # left by a run killed while checkpointing
        if _name(stale).startswith("_tmp-"):
            fs.rm(stale, recursive=True)
    tmp = storage.join(fs, path, f"_tmp-{uuid.uuid4().hex}")
    fs.makedirs(tmp, exist_ok=True)
    try:
        _save_array(fs, storage.join(fs, tmp, "W.npy"), W)
        _save_array(fs, storage.join(fs, tmp, "Wp.npy"), Wp)
        with fs.open(storage.join(fs, tmp, "state.json"), "w") as fh:
            json.dump({"next_round": next_round, "vocab_size": int(W.shape[0]), "config": config}, fh)
    except BaseException:
        storage.remove_quietly(fs, tmp)
        raise
    final = storage.join(fs, path, f"{_PREFIX}{next_round:06d}")
    fs.mv(tmp, final, recursive=True)
    for old in _complete(fs, path):
        if old != final:
            fs.rm(old, recursive=True)


def _complete(fs, path: str) -> list[str]:
    if not fs.exists(path):
        return []
    return sorted(p for p in fs.ls(path, detail=False) if _name(p).startswith(_PREFIX))


def _name(path: str) -> str:
    """The last component of a path as fs.ls gives it."""
    return path.rstrip("/").rsplit("/", 1)[-1]


def latest_round(url: str) -> int | None:
    """The round count of the newest complete checkpoint in ``url`` (None if there is none)."""
    fs, path = storage.url_to_fs(url)
    done = _complete(fs, path)
    return int(_name(done[-1])[len(_PREFIX):]) if done else None


def latest(url: str) -> Checkpoint | None:
    """The newest complete checkpoint in ``url``, or None if there is none."""
    fs, path = storage.url_to_fs(url)
    done = _complete(fs, path)
    if not done:
        return None
    last = done[-1]
    with fs.open(storage.join(fs, last, "state.json"), "r") as fh:
        state = json.load(fh)
    return Checkpoint(state["next_round"], _load_array(fs, storage.join(fs, last, "W.npy")),
                      _load_array(fs, storage.join(fs, last, "Wp.npy")), state["config"], state["vocab_size"])


def check_compatible(ckpt: Checkpoint, config: dict, vocab_size: int) -> None:
    """Raise InputError if the checkpoint was made with other settings or another vocabulary."""
    ignore = {"checkpoint_every", "max_model_mb"}  # they do not change the vectors
    diff = sorted(k for k in set(config) | set(ckpt.config)
                  if k not in ignore and config.get(k) != ckpt.config.get(k))
    if diff:
        raise InputError(f"cannot resume: the checkpoint was made with other settings ({', '.join(diff)}); "
                         "resume with the same settings or train afresh with --overwrite")
    if vocab_size != ckpt.vocab_size:
        raise InputError(f"cannot resume: the vocabulary has {vocab_size} words, the checkpoint "
                         f"{ckpt.vocab_size}; the input changed: train afresh with --overwrite")
