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


class Context:
    def __init__(self, values):
        self.conf = Conf(values)

    def getConf(self):
        return self.conf


class Session:
    def __init__(self, values):
        self.sparkContext = Context(values)


class ConnectSession:
    @property
    def sparkContext(self):
        raise RuntimeError("[JVM_ATTRIBUTE_NOT_SUPPORTED] Attribute `sparkContext` is not supported in Spark Connect")


def test_dynamic_allocation_is_refused_with_the_setting_to_change():
    check_supported(Session({}))
    check_supported(Session({"spark.dynamicAllocation.enabled": "false"}))
    with pytest.raises(ConfigError, match="barrier.*spark.dynamicAllocation.enabled=false"):
        check_supported(Session({"spark.dynamicAllocation.enabled": "true"}))


def test_spark_connect_is_refused():
    with pytest.raises(ConfigError, match="Spark Connect sessions do not offer"):
        check_supported(ConnectSession())


def test_number_of_blocks():
    assert resolve_num_blocks(TrainConfig(), slots=8, vocab_size=1000) == 8  # default: the slots
    assert resolve_num_blocks(TrainConfig(), slots=32, vocab_size=10) == 10  # at most the words
    assert resolve_num_blocks(TrainConfig(num_blocks=64), slots=2, vocab_size=1000) == 64
    with pytest.raises(InputError, match="num_blocks=64 is more than the vocabulary"):
        resolve_num_blocks(TrainConfig(num_blocks=64), slots=2, vocab_size=7)
