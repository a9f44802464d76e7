"""Configuration: defaults, TOML files, flags, and clear errors for bad keys and values."""

import argparse

import pytest

from sparkw2v.config import (TrainConfig, add_config_arguments, load_config,
                             overrides_from_args)
from sparkw2v.errors import ConfigError


def test_defaults_are_the_documented_ones():
    c = TrainConfig()
    assert (c.vector_size, c.window, c.negative, c.sample, c.min_count) == (100, 5, 5, 1e-4, 5)
    assert (c.alpha, c.min_alpha, c.epochs, c.ns_exponent) == (0.025, 0.0001, 5, 0.75)


def test_repo_default_toml_equals_code_defaults():
    from pathlib import Path
    path = Path(__file__).resolve().parents[2] / "conf" / "default.toml"
    assert load_config(str(path)) == TrainConfig()


@pytest.mark.parametrize("key,value,fragment", [
    ("vector_size", 0, "'vector_size' has invalid value 0"),
    ("vector_size", -3, "'vector_size' has invalid value -3"),
    ("window", 0, "'window' has invalid value 0"),
    ("sample", 1.5, "'sample' has invalid value 1.5"),
    ("sample", -0.1, "'sample'"),
    ("min_alpha", 0.5, "'min_alpha'"),
    ("negative", 0, "'negative'"),
    ("epochs", 0, "'epochs'"),
    ("epochs", 1_000_000, "'epochs' has invalid value 1000000: it must be an integer in [1, 10000]"),
    ("cycles_per_epoch", -1, "'cycles_per_epoch' has invalid value -1"),
    ("cycles_per_epoch", 10_001, "'cycles_per_epoch' has invalid value 10001: it must be an integer in [0, 10000] "
                                 "(0: 16, or 5 with more than 64 blocks)"),
    ("num_blocks", -1, "'num_blocks' has invalid value -1"),
    ("vector_size", "100", "must be of type int"),
])
def test_invalid_values_name_key_and_range(key, value, fragment):
    with pytest.raises(ConfigError, match="must be") as info:
        TrainConfig(**{key: value})
    assert fragment in str(info.value)


def test_unknown_key_in_toml_suggests_the_right_one(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[train]\nvector_sise = 50\n")
    with pytest.raises(ConfigError, match=r"unknown config key 'vector_sise'.*did you mean 'vector_size'"):
        load_config(str(path))


def test_toml_then_flags(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("vector_size = 50\nwindow = 3\n")
    parser = argparse.ArgumentParser()
    add_config_arguments(parser)
    args = parser.parse_args(["--window", "8", "--lowercase", "false", "--sample", "0"])
    c = load_config(str(path), overrides_from_args(args))
    assert (c.vector_size, c.window, c.lowercase, c.sample) == (50, 8, False, 0.0)


def test_missing_or_broken_config_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(str(tmp_path / "nope.toml"))
    bad = tmp_path / "bad.toml"
    bad.write_text("window = = 3\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(str(bad))


@pytest.mark.parametrize("key", ["num_partitions", "rounds_per_epoch", "concurrency", "combine_gamma"])
def test_keys_of_the_averaging_trainer_are_refused_with_what_replaced_them(tmp_path, key):
    path = tmp_path / "old.toml"
    path.write_text(f"{key} = 1\n")
    with pytest.raises(ConfigError, match=rf"config key '{key}' in config file .* was removed: .*num_blocks"):
        load_config(str(path))


def test_every_numeric_key_has_a_range():
    """No setting takes any number: an extra zero (or nine) is refused, naming key, value and range."""
    from sparkw2v.config import _FIELD_TYPES

    numeric = [k for k, kind in _FIELD_TYPES.items() if kind in (int, float)]
    assert len(numeric) == 16
    for key in numeric:
        for bad in (10**30, -1, float("nan"), float("inf")):
            value = bad if _FIELD_TYPES[key] is float or isinstance(bad, int) else None
            if value is None:
                continue
            with pytest.raises(ConfigError, match=rf"config key '{key}' has invalid value .*: it must be") as info:
                TrainConfig(**{key: value})
            assert ("in [" in str(info.value) or "in (" in str(info.value)), str(info.value)


def test_a_window_of_a_billion_is_refused_before_spark():
    with pytest.raises(ConfigError, match=r"'window' has invalid value 1000000000: it must be an integer in "
                                          r"\[1, 10000\] \(rows are cut at 10000 words\)"):
        load_config(None, {"window": 1_000_000_000})


def test_the_window_bound_is_the_longest_training_row():
    from sparkw2v.config import MAX_WINDOW
    from sparkw2v.encode import MAX_ROW_WORDS

    assert MAX_WINDOW == MAX_ROW_WORDS


def test_top_level_settings_are_read_in_a_file_without_a_train_table(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("seed = 99\n")
    assert load_config(str(path)).seed == 99
    path.write_text("seed = 99\n[train]\nwindow = 3\n")
    with pytest.raises(ConfigError, match=r"key 'seed' is outside the \[train\] table and would be ignored: move "
                                          r"it under \[train\]"):
        load_config(str(path))
    path.write_text("[train]\nseed = 99\n")
    assert load_config(str(path)).seed == 99


def test_a_bad_value_from_the_file_names_the_file_unless_a_flag_replaced_it(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[train]\nwindow = 0\nalpha = 0.05\n")
    with pytest.raises(ConfigError, match=r"'window' has invalid value 0: .* \(set in config file '.*c.toml'\)"):
        load_config(str(path))
    assert load_config(str(path), {"window": 4}).window == 4
    with pytest.raises(ConfigError) as info:
        load_config(str(path), {"window": -2})
    assert "set in config file" not in str(info.value)
