"""Every training setting and its default, in one place.

``TrainConfig`` is a frozen, validated dataclass. A TOML file (``conf/default.toml``) and the
command-line flags of ``jobs/train.py`` only fill it: :func:`load_config` merges defaults,
then a TOML file, then explicit overrides, and validates the result.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import re
import tomllib
from dataclasses import dataclass, fields
from typing import Any, Mapping

import fsspec

from .errors import ConfigError


# Bounds past any sensible run: a typo (an extra zero or three) is refused at once, before
# Spark starts, instead of training for a month or ending in a MemoryError far away.
MAX_EPOCHS = 10_000
MAX_CYCLES = 10_000
# Rows are cut into rows of at most encode.MAX_ROW_WORDS = 10,000 words (gensim's limit): a
# wider window sees nothing more (and its buffers of 2 x window entries grow without use).
MAX_WINDOW = 10_000
# Widest vector any published word2vec model uses is a few thousand components.
MAX_VECTOR_SIZE = 10_000
# Noise words per pair: 2-20 in practice (Mikolov et al. 2013b); each costs a dot product.
MAX_NEGATIVE = 1_000
# A learning rate above 1 diverges at once for SGNS (the default is 0.025).
MAX_ALPHA = 1.0
# Spark's RegexTokenizer takes a Java int; a token this long is no word.
MAX_TOKEN_LENGTH = 10_000
# Counts and sizes compared with Spark's 64-bit counts.
MAX_INT64 = 2**63 - 1
# The blocks of W and W' are trained P at a time in P x P strata per cycle.
MAX_BLOCKS = 10_000
# The most blocks whose quality has been measured flat (within 0.65 analogy point of P = 1 up to
# P = 128 on the real corpus; P = 256 lost 1.15 points over three seeds, P = 512 3.85: README
# "Flat quality"). The default P never exceeds it; an explicit num_blocks above it is warned of.
MAX_FLAT_BLOCKS = 128


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
            live copies). 0: the task slots of the session (its cores), at most 128 (more blocks
            cost quality: README "Flat quality") and at most the vocabulary size. Results
            depend on (seed, num_blocks, cycles_per_epoch), never on how many executors run
            them; set it explicitly for the same vectors on any cluster.
        cycles_per_epoch: R, how often each (W block, W' block) pair meets per epoch: each
            epoch's pairs are cut into R cycles of P sub-epochs (>= 1). 0 (the default): 16,
            or 5 with more than 64 blocks, where a task waits for each of the P R hand-overs
            of W' blocks an epoch (``schedule.resolve_cycles``; README "XXH3-64 hand-overs
            and fewer cycles at many blocks").
        seed: seed of every random draw; equal seeds and settings give equal vectors.
        checkpoint_every: keep the blocks of W and W' after every this many epochs (and after
            the last) as a checkpoint (0: never); ``jobs/train.py --resume`` continues from the
            newest.
        text_column: name of the string column of the input Parquet.
        lowercase: lowercase text before splitting.
        token_pattern: Java regular expression that separates tokens (Spark RegexTokenizer).
        min_token_length: tokens shorter than this many characters are dropped.
        ring: how W' blocks travel between the training tasks of an epoch (the vectors are the
            same bits whichever): "auto" (a local master: shared memory; a cluster: the network,
            executor to executor, and shared memory between tasks of one host), "peer" (the
            network between every pair of tasks, even on one host: to test it locally), or
            "store" (files in the work directory, as before issue 16).
        peer_ports: the ports a task's W' block server may listen on, on its executor's
            address: "0" (any free port), "PORT" or "FIRST-LAST" (the range a firewall between
            executors must allow; one port per concurrent training task of a host).
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
    cycles_per_epoch: int = 0
    seed: int = 1
    checkpoint_every: int = 0
    text_column: str = "text"
    lowercase: bool = True
    token_pattern: str = r"\s+"
    min_token_length: int = 1
    ring: str = "auto"
    peer_ports: str = "0"

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
        _check(1 <= self.vector_size <= MAX_VECTOR_SIZE, "vector_size", self.vector_size,
               f"an integer in [1, {MAX_VECTOR_SIZE}]")
        _check(1 <= self.window <= MAX_WINDOW, "window", self.window,
               f"an integer in [1, {MAX_WINDOW}] (rows are cut at {MAX_WINDOW} words)")
        _check(1 <= self.negative <= MAX_NEGATIVE, "negative", self.negative, f"an integer in [1, {MAX_NEGATIVE}]")
        _check(0.0 <= self.ns_exponent <= 2.0, "ns_exponent", self.ns_exponent, "in [0, 2]")
        _check(0.0 <= self.sample < 1.0, "sample", self.sample, "in [0, 1) (0 disables it)")
        _check(1 <= self.min_count <= MAX_INT64, "min_count", self.min_count, "an integer in [1, 2**63 - 1]")
        _check(0 <= self.max_vocab_size <= MAX_INT64, "max_vocab_size", self.max_vocab_size,
               "an integer in [0, 2**63 - 1] (0: no limit)")
        _check(0 <= self.max_model_mb <= MAX_INT64 >> 20, "max_model_mb", self.max_model_mb,
               "an integer in [0, 2**43 - 1] (0: no limit)")
        _check(0.0 < self.alpha <= MAX_ALPHA, "alpha", self.alpha, f"in (0, {MAX_ALPHA:g}]")
        _check(0.0 <= self.min_alpha <= self.alpha, "min_alpha", self.min_alpha,
               f"in [0, alpha={self.alpha}]")
        _check(1 <= self.epochs <= MAX_EPOCHS, "epochs", self.epochs, f"an integer in [1, {MAX_EPOCHS}]")
        _check(0 <= self.num_blocks <= MAX_BLOCKS, "num_blocks", self.num_blocks,
               f"an integer in [0, {MAX_BLOCKS}] (0: the session's task slots, at most {MAX_FLAT_BLOCKS})")
        _check(0 <= self.cycles_per_epoch <= MAX_CYCLES, "cycles_per_epoch", self.cycles_per_epoch,
               f"an integer in [0, {MAX_CYCLES}] (0: 16, or 5 with more than 64 blocks)")
        _check(0 <= self.seed < 2**63, "seed", self.seed, "in [0, 2**63)")
        _check(0 <= self.checkpoint_every <= MAX_EPOCHS, "checkpoint_every", self.checkpoint_every,
               f"an integer in [0, {MAX_EPOCHS}] (0: never)")
        _check(bool(self.text_column), "text_column", self.text_column, "a non-empty column name")
        _check(bool(self.token_pattern), "token_pattern", self.token_pattern, "a non-empty regex")
        _check(1 <= self.min_token_length <= MAX_TOKEN_LENGTH, "min_token_length", self.min_token_length,
               f"an integer in [1, {MAX_TOKEN_LENGTH}]")
        _check(self.ring in RINGS, "ring", self.ring, " or ".join(repr(r) for r in RINGS))
        _check(parse_port_range(self.peer_ports) is not None, "peer_ports", self.peer_ports,
               '"0" (any free port), a port "P" or a range "FIRST-LAST" of ports in [1, 65535]')

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
    "ring": str, "peer_ports": str,
}

# how W' blocks travel between training tasks (TrainConfig.ring)
RINGS = ("auto", "peer", "store")
# settings that choose how bytes move, not which: they never change the vectors
TRANSPORT_KEYS = frozenset({"ring", "peer_ports"})


def parse_port_range(text: str) -> tuple[int, int] | None:
    """(first, last) of a ``peer_ports`` value: "0" -> (0, 0) (any free port), "40000" ->
    (40000, 40000), "40000-40100" -> (40000, 40100); None if it is none of these or a port is
    outside [1, 65535] or first > last."""
    match = re.fullmatch(r"\s*(\d{1,5})\s*(?:-\s*(\d{1,5})\s*)?", text or "")
    if not match:
        return None
    first = int(match.group(1))
    last = int(match.group(2)) if match.group(2) is not None else first
    if first == 0 and last == 0:
        return (0, 0)
    if not 1 <= first <= last <= 65535:
        return None
    return (first, last)
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


# The table of a config file that holds the settings; a file without it holds them at its top
# level. Nothing else may be in a file: a key sparkw2v would not read is refused, not ignored.
TABLE = "train"


def read_toml(path: str) -> dict[str, Any]:
    """Read the settings of a TOML file through fsspec: the keys of its ``[train]`` table, or,
    in a file without that table, its top-level keys.

    Every key is read or refused: with a ``[train]`` table, a key at the top level or another
    table is an error (it would be ignored); every key must be a setting.

    Raises:
        ConfigError: the file is missing, a directory, unreadable, not UTF-8 or not valid TOML,
            holds a key outside ``[train]``, or names an unknown key (each naming the file).
    """
    data = parse_toml(read_config_bytes(path), path)
    return settings_of(data, path)


def read_config_bytes(path: str) -> bytes:
    """The bytes of the config file ``path`` (a local path or fsspec URL).

    Raises:
        ConfigError: the file is missing, a directory, or cannot be read (naming the reason).
    """
    try:
        fs, inner = fsspec.core.url_to_fs(path)
        if fs.isdir(inner):
            raise ConfigError(f"config file {path!r} is a directory: pass a TOML file to --config "
                              "(e.g. conf/default.toml)")
        with fs.open(inner, "rb") as fh:
            return fh.read()
    except ConfigError:
        raise
    except FileNotFoundError:
        raise ConfigError(f"config file {path!r} does not exist; pass an existing --config") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {path!r} is a directory: pass a TOML file to --config") from None
    except (ValueError, ImportError) as exc:  # fsspec: unknown scheme, missing package
        raise ConfigError(f"config file {path!r} cannot be opened ({exc}): give a local path or a URL fsspec "
                          "knows") from None
    except OSError as exc:
        raise ConfigError(f"config file {path!r} cannot be read ({exc.strerror or exc}): check its "
                          "permissions, or pass another --config") from None


def parse_toml(raw: bytes, path: str) -> dict[str, Any]:
    """The TOML document ``raw`` (UTF-8 bytes; a leading byte-order mark is allowed).

    Raises:
        ConfigError: not UTF-8 (naming the byte offset) or not TOML (naming line and column).
    """
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {path!r} is not UTF-8 text (byte {exc.start}): TOML files are UTF-8; "
                          "convert it (e.g. iconv) or pass the right file") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path!r} is not valid TOML: {exc}") from None


def settings_of(data: Mapping[str, Any], path: str) -> dict[str, Any]:
    """The settings of a parsed config file: its ``[train]`` table, or its top level if it has
    none; every other key is refused.

    Raises:
        ConfigError: a key outside ``[train]``, a ``train`` key that is not a table, another
            table, or an unknown or removed key (naming the key and where it belongs).
    """
    where = f"config file {path!r}"
    if TABLE in data:
        if not isinstance(data[TABLE], dict):
            raise ConfigError(f"{where}: {TABLE!r} must be the table [{TABLE}] of settings, got "
                              f"{data[TABLE]!r}: write the settings under a [{TABLE}] line")
        outside = [k for k in data if k != TABLE]
        if outside:
            key = outside[0]
            kind = "table" if isinstance(data[key], dict) else "key"
            fix = (f"move it under [{TABLE}]" if key in _FIELD_TYPES or key in REMOVED_KEYS
                   else f"remove it (settings belong under [{TABLE}])")
            raise ConfigError(f"{where}: {kind} {key!r} is outside the [{TABLE}] table and would be ignored: "
                              f"{fix}")
        values = data[TABLE]
        where = f"the [{TABLE}] table of {where}"
    else:
        values = data
    for key, value in values.items():
        if isinstance(value, dict) and key not in _FIELD_TYPES:
            raise ConfigError(f"{where}: unknown table [{key}]: the settings belong in one [{TABLE}] table "
                              f"(or at the top level of a file without it); known keys: {', '.join(CONFIG_KEYS)}")
    _check_keys(values, where)
    return dict(values)


def load_config(path: str | None = None, overrides: Mapping[str, Any] | None = None) -> TrainConfig:
    """Defaults, then the TOML file at ``path``, then ``overrides``; validated.

    Raises:
        ConfigError: unknown key or invalid value (the message names both and the allowed range,
            and the file when the value came from it).
    """
    from_file = read_toml(path) if path else {}
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    _check_keys(given, "overrides")
    try:
        return TrainConfig(**{**from_file, **given})
    except ConfigError as exc:
        key = re.search(r"config key '(\w+)'", str(exc))
        if key and key.group(1) in from_file and key.group(1) not in given:
            raise ConfigError(f"{exc} (set in config file {path!r})") from None
        raise
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
