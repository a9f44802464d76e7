"""Every training setting and its default, in one place.

``TrainConfig`` is a frozen, validated dataclass. A TOML file (``conf/default.toml``) and the
command-line flags of ``jobs/train.py`` only fill it: :func:`load_config` merges defaults,
then a TOML file, then explicit overrides, and validates the result.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import tomllib
from dataclasses import dataclass, field, fields
from typing import Any, Mapping

import fsspec

from .errors import ConfigError


# Bounds past any sensible run: a typo (an extra zero or three) is refused at once instead of
# training for a month.
MAX_EPOCHS = 10_000
MAX_CYCLES = 10_000


@dataclass(frozen=True)
class TrainConfig:
    """Settings of one training run (names as in gensim and Spark MLlib).

    Attributes:
        vector_size: N, the embedding dimension (>= 1).
        window: maximum distance, in words, between a center and a context word (>= 1); the
            distance actually used is drawn uniformly from 1..window per position (dynamic
            window, Mikolov et al. 2013).
        negative: K, noise words per (center, context) pair (>= 1).
        ns_exponent: exponent of the noise distribution P_n(w) ~ count(w)^ns_exponent.
        sample: subsampling threshold t in [0, 1); 0 disables subsampling.
        min_count: words seen fewer times are dropped from the vocabulary (>= 1).
        max_vocab_size: keep at most this many most frequent words (0: no limit).
        max_model_mb: refuse a vocabulary whose blocks of W and W' would need more than this
            many MiB on one training task (2 x V x vector_size float32 / tasks), before the words
            reach the driver (0: no limit). The driver holds no vectors.
        alpha: initial learning rate (> 0).
        min_alpha: final learning rate (0 <= min_alpha <= alpha), reached linearly over all
            words of all epochs.
        epochs: passes over the corpus (>= 1).
        num_blocks: P, the blocks W and W' are cut into (stratified block SGD: no row has two
            live copies). 0: the task slots of the session (its cores), at most the vocabulary
            size. Results depend on (seed, num_blocks, cycles_per_epoch), never on how many
            executors run them; set it explicitly for the same vectors on any cluster.
        cycles_per_epoch: R, how often each (W block, W' block) pair meets per epoch: each
            epoch's pairs are cut into R cycles of P sub-epochs (>= 1).
        seed: seed of every random draw; equal seeds and settings give equal vectors.
        checkpoint_every: keep the blocks of W and W' after every this many epochs (and after
            the last) as a checkpoint (0: never); ``jobs/train.py --resume`` continues from the
            newest.
        text_column: name of the string column of the input Parquet.
        lowercase: lowercase text before splitting.
        token_pattern: Java regular expression that separates tokens (Spark RegexTokenizer).
        min_token_length: tokens shorter than this many characters are dropped.
    """

    vector_size: int = 100
    window: int = 5
    negative: int = 5
    ns_exponent: float = 0.75
    sample: float = 1e-4
    min_count: int = 5
    max_vocab_size: int = 0
    max_model_mb: int = 4096
    alpha: float = 0.025
    min_alpha: float = 0.0001
    epochs: int = 5
    num_blocks: int = 0
    cycles_per_epoch: int = 16
    seed: int = 1
    checkpoint_every: int = 0
    text_column: str = "text"
    lowercase: bool = True
    token_pattern: str = r"\s+"
    min_token_length: int = 1

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            expected = _FIELD_TYPES[f.name]
            if expected is float and isinstance(value, int) and not isinstance(value, bool):
                object.__setattr__(self, f.name, float(value))
                continue
            if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
                raise ConfigError(
                    f"config key {f.name!r} must be of type {expected.__name__}, got "
                    f"{value!r} ({type(value).__name__})"
                )
        _check(self.vector_size >= 1, "vector_size", self.vector_size, "an integer >= 1")
        _check(self.window >= 1, "window", self.window, "an integer >= 1")
        _check(self.negative >= 1, "negative", self.negative, "an integer >= 1")
        _check(0.0 <= self.ns_exponent <= 2.0, "ns_exponent", self.ns_exponent, "in [0, 2]")
        _check(0.0 <= self.sample < 1.0, "sample", self.sample, "in [0, 1) (0 disables it)")
        _check(self.min_count >= 1, "min_count", self.min_count, "an integer >= 1")
        _check(self.max_vocab_size >= 0, "max_vocab_size", self.max_vocab_size, ">= 0 (0: no limit)")
        _check(self.max_model_mb >= 0, "max_model_mb", self.max_model_mb, ">= 0 (0: no limit)")
        _check(self.alpha > 0.0, "alpha", self.alpha, "> 0")
        _check(0.0 <= self.min_alpha <= self.alpha, "min_alpha", self.min_alpha,
               f"in [0, alpha={self.alpha}]")
        _check(1 <= self.epochs <= MAX_EPOCHS, "epochs", self.epochs, f"an integer in [1, {MAX_EPOCHS}]")
        _check(self.num_blocks >= 0, "num_blocks", self.num_blocks,
               ">= 0 (0: the session's task slots)")
        _check(1 <= self.cycles_per_epoch <= MAX_CYCLES, "cycles_per_epoch", self.cycles_per_epoch,
               f"an integer in [1, {MAX_CYCLES}]")
        _check(0 <= self.seed < 2**63, "seed", self.seed, "in [0, 2**63)")
        _check(self.checkpoint_every >= 0, "checkpoint_every", self.checkpoint_every, ">= 0 (0: never)")
        _check(bool(self.text_column), "text_column", self.text_column, "a non-empty column name")
        _check(bool(self.token_pattern), "token_pattern", self.token_pattern, "a non-empty regex")
        _check(self.min_token_length >= 1, "min_token_length", self.min_token_length, ">= 1")

    def to_dict(self) -> dict[str, Any]:
        """All settings as a plain JSON-serialisable dict."""
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> "TrainConfig":
        """A copy with ``changes`` applied (validated); unknown keys raise ConfigError."""
        _check_keys(changes, "override")
        return dataclasses.replace(self, **changes)


_FIELD_TYPES: dict[str, type] = {
    "vector_size": int, "window": int, "negative": int, "ns_exponent": float, "sample": float,
    "min_count": int, "max_vocab_size": int, "max_model_mb": int, "alpha": float, "min_alpha": float, "epochs": int,
    "num_blocks": int, "cycles_per_epoch": int,
    "seed": int, "checkpoint_every": int,
    "text_column": str, "lowercase": bool, "token_pattern": str, "min_token_length": int,
}
CONFIG_KEYS: tuple[str, ...] = tuple(f.name for f in fields(TrainConfig))
assert set(CONFIG_KEYS) == set(_FIELD_TYPES)


# Keys of earlier versions, with what replaced them.
REMOVED_KEYS: dict[str, str] = {
    key: ("sparkw2v no longer averages replicas trained apart (quality fell with every executor "
          "added); it trains W and W' in blocks that never have two live copies: set num_blocks "
          "and cycles_per_epoch instead")
    for key in ("num_partitions", "rounds_per_epoch", "concurrency", "combine_gamma")
}


def _check(ok: bool, key: str, value: Any, allowed: str) -> None:
    if not ok:
        raise ConfigError(f"config key {key!r} has invalid value {value!r}: it must be {allowed}")


def _check_keys(values: Mapping[str, Any], where: str) -> None:
    for key in values:
        if key in REMOVED_KEYS:
            raise ConfigError(f"config key {key!r} in {where} was removed: {REMOVED_KEYS[key]}")
        if key not in _FIELD_TYPES:
            close = difflib.get_close_matches(key, CONFIG_KEYS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(
                f"unknown config key {key!r} in {where}{hint} Known keys: {', '.join(CONFIG_KEYS)}"
            )


def read_toml(path: str) -> dict[str, Any]:
    """Read the settings of a TOML file (top level, or a ``[train]`` table) through fsspec.

    Raises:
        ConfigError: the file is missing, is not valid TOML, or names an unknown key.
    """
    try:
        with fsspec.open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file {path!r} does not exist; pass an existing --config") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path!r} is not valid TOML: {exc}") from None
    if "train" in data and isinstance(data["train"], dict):
        data = data["train"]
    _check_keys(data, f"config file {path!r}")
    return data


def load_config(path: str | None = None, overrides: Mapping[str, Any] | None = None) -> TrainConfig:
    """Defaults, then the TOML file at ``path``, then ``overrides``; validated.

    Raises:
        ConfigError: unknown key or invalid value (the message names both and the allowed range).
    """
    values: dict[str, Any] = {}
    if path:
        values.update(read_toml(path))
    if overrides:
        _check_keys(overrides, "overrides")
        values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return TrainConfig(**values)
    except TypeError as exc:  # pragma: no cover - keys are checked above
        raise ConfigError(str(exc)) from None


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """Add one ``--flag`` per config key (``vector_size`` -> ``--vector-size``); default None."""
    group = parser.add_argument_group("training settings (override --config and defaults)")
    for f in fields(TrainConfig):
        kind = _FIELD_TYPES[f.name]
        group.add_argument(
            "--" + f.name.replace("_", "-"), dest=f.name, default=None,
            type=_parse_bool if kind is bool else kind, metavar=kind.__name__.upper(),
            help=f"default {f.default!r}",
        )


def overrides_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The config keys given explicitly on the command line."""
    return {k: getattr(args, k) for k in CONFIG_KEYS if getattr(args, k, None) is not None}
