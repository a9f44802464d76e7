"""Where the block stage cannot run, the trainer says so before any work."""

import pytest

from sparkw2v.config import TrainConfig
from sparkw2v.errors import ConfigError, InputError
from sparkw2v.trainer import check_supported, resolve_num_blocks


class Conf:
    def __init__(self, values):
        self.values = values

    def get(self, key, default=None):
        return self.values.get(key, default)


class Session:
    """What check_supported reads of a session, classic or Connect alike: ``spark.conf``."""

    def __init__(self, values):
        self.conf = Conf(values)

    @property
    def sparkContext(self):  # as in Spark Connect: the check must not need it
        raise RuntimeError("[JVM_ATTRIBUTE_NOT_SUPPORTED] Attribute `sparkContext` is not supported in Spark Connect")


class HiddenConf:
    def get(self, key, default=None):
        raise RuntimeError(f"[CONFIG_NOT_AVAILABLE] {key}")


def test_dynamic_allocation_is_refused_with_the_setting_to_change():
    check_supported(Session({}))
    check_supported(Session({"spark.dynamicAllocation.enabled": "false"}))
    with pytest.raises(ConfigError, match="barrier.*spark.dynamicAllocation.enabled=false"):
        check_supported(Session({"spark.dynamicAllocation.enabled": "true"}))


def test_a_session_without_a_spark_context_is_not_refused():
    """Spark Connect sessions train (DataFrame operators only); a platform that hides the
    setting is not refused either (Spark itself refuses a barrier stage under dynamic allocation)."""
    check_supported(Session({"spark.dynamicAllocation.enabled": "False"}))
    hidden = Session({})
    hidden.conf = HiddenConf()
    check_supported(hidden)


def test_number_of_blocks():
    assert resolve_num_blocks(TrainConfig(), slots=8, vocab_size=1000) == 8  # default: the slots
    assert resolve_num_blocks(TrainConfig(), slots=32, vocab_size=10) == 10  # at most the words
    assert resolve_num_blocks(TrainConfig(num_blocks=64), slots=2, vocab_size=1000) == 64
    with pytest.raises(InputError, match="num_blocks=64 is more than the vocabulary"):
        resolve_num_blocks(TrainConfig(num_blocks=64), slots=2, vocab_size=7)
