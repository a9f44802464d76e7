"""Where the block stage cannot run, the trainer says so before any work."""

import pytest

from sparkw2v.config import TrainConfig
from sparkw2v.errors import ConfigError, InputError
from sparkw2v.trainer import _settings, check_supported, num_blocks_warning, resolve_num_blocks


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
    # at most the blocks measured flat: P = 256 and 512 lost quality (README "Flat quality")
    assert resolve_num_blocks(TrainConfig(), slots=512, vocab_size=10**6) == 128
    assert resolve_num_blocks(TrainConfig(num_blocks=256), slots=512, vocab_size=10**6) == 256  # asked for: kept
    assert num_blocks_warning(128) is None
    assert "num_blocks=256 is above 128" in num_blocks_warning(256) and "num_blocks <= 128" in num_blocks_warning(256)
    assert resolve_num_blocks(TrainConfig(num_blocks=64), slots=2, vocab_size=1000) == 64
    with pytest.raises(InputError, match="num_blocks=64 is more than the vocabulary"):
        resolve_num_blocks(TrainConfig(num_blocks=64), slots=2, vocab_size=7)


def _connect_session(host, master="local[2]"):
    """A stand-in of a Spark Connect session: its class lives in pyspark.sql.connect, as the real one's."""
    url = type("Url", (), {"hostname": host})()
    cls = type("SparkSession", (), {"__module__": "pyspark.sql.connect.session"})
    spark = cls()
    spark.conf = Conf({"spark.master": master})
    spark.client = type("Client", (), {"_builder": type("Builder", (), {"url": url})()})()
    return spark


def test_a_local_temporary_block_store_only_where_every_executor_is_on_this_machine(monkeypatch):
    from sparkw2v.trainer import _executors_share_this_machine

    monkeypatch.delenv("SPARK_LOCAL_REMOTE", raising=False)
    classic = type("SparkSession", (), {"__module__": "pyspark.sql.session"})()
    assert _executors_share_this_machine(classic, "local[2]")
    assert not _executors_share_this_machine(classic, "spark://10.0.0.1:7077")
    assert _executors_share_this_machine(_connect_session("localhost"), "local[2]")
    assert _executors_share_this_machine(_connect_session("127.0.0.1"), "local[*]")
    assert not _executors_share_this_machine(_connect_session("db.example.com"), "local[2]")  # a server elsewhere
    assert not _executors_share_this_machine(_connect_session("localhost", "yarn"), "yarn")
    monkeypatch.setenv("SPARK_LOCAL_REMOTE", "1")  # pyspark started the Connect server in this process
    assert _executors_share_this_machine(_connect_session("localhost"), "local[2]")


def test_training_without_a_work_directory_from_a_remote_connect_server_is_refused(monkeypatch):
    from sparkw2v.trainer import train_tokens

    monkeypatch.delenv("SPARK_LOCAL_REMOTE", raising=False)
    tokens = type("Tokens", (), {"sparkSession": _connect_session("db.example.com")})()
    with pytest.raises(ConfigError, match=r"Spark Connect server on another machine\) needs a work directory .*"
                                          r"give work_dir \(--work-dir, or tempDir of sparkw2v.ml.Word2Vec\)"):
        train_tokens(tokens, TrainConfig())


def test_a_checkpoint_records_the_cycles_as_resolved():
    # a resume must match R as trained: the default (0) and an explicit R that resolves alike
    # are the same run, and a checkpoint of an older version (R = 16 stated) resumes at P <= 64
    assert _settings(TrainConfig(), 64) == _settings(TrainConfig(cycles_per_epoch=16), 64)
    assert _settings(TrainConfig(), 128)["cycles_per_epoch"] == 5
    assert _settings(TrainConfig(), 128) == _settings(TrainConfig(cycles_per_epoch=5), 128)
