"""Which session a job gets, classic or Spark Connect, and how sparkw2v's settings reach a
Connect server: without a JVM (the Spark tests run both modes for real)."""

import logging
import os
import sys

import pytest

from sparkw2v.errors import ConfigError
from sparkw2v.session import DEFAULT_CONF, _apply_runtime_conf, connect_target, local_daemon_conf


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in ("SPARK_REMOTE", "SPARK_API_MODE", "SPARK_CONNECT_MODE_ENABLED", "SPARK_LOCAL_REMOTE",
                 "PYSPARK_REMOTE_INIT_CONF_LEN"):
        monkeypatch.delenv(name, raising=False)


def test_classic_unless_something_asks_for_connect():
    assert connect_target() is None
    assert connect_target(master="local[2]") is None
    assert connect_target(conf={"spark.api.mode": "classic"}) is None


def test_remote_argument_then_environment(monkeypatch):
    assert connect_target("sc://db.example.com:15002") == "sc://db.example.com:15002"
    assert connect_target("local[2]") == "local[2]"
    monkeypatch.setenv("SPARK_REMOTE", "sc://localhost:15002")
    assert connect_target() == "sc://localhost:15002"
    assert connect_target("local[4]") == "local[4]"  # the argument wins over the environment


def test_api_mode_connect_starts_a_server_with_the_master(monkeypatch):
    assert connect_target(conf={"spark.api.mode": "connect"}) == "local[*]"
    assert connect_target(master="local[3]", conf={"spark.api.mode": "Connect"}) == "local[3]"
    monkeypatch.setenv("SPARK_API_MODE", "connect")
    assert connect_target(master="local[2]") == "local[2]"


def test_api_mode_given_to_spark_submit(monkeypatch):
    monkeypatch.setenv("PYSPARK_REMOTE_INIT_CONF_LEN", "1")
    monkeypatch.setenv("PYSPARK_REMOTE_INIT_CONF_0", '{"spark.api.mode": "connect"}')
    assert connect_target(master="local[2]") == "local[2]"


@pytest.mark.parametrize("remote", ["http://host:15002", "host:15002", "yarn", "local[2", ""])
def test_a_remote_that_is_no_connect_url_is_one_line(remote):
    with pytest.raises(ConfigError, match="is not a Spark Connect URL: give sc://HOST:PORT .* or local\\[N\\]"):
        connect_target(remote)


def test_master_and_remote_together_are_refused(monkeypatch):
    with pytest.raises(ConfigError, match="--master 'local\\[2\\]' and --remote 'sc://h:1' were both given"):
        connect_target("sc://h:1", master="local[2]")
    monkeypatch.setenv("SPARK_REMOTE", "sc://h:1")
    with pytest.raises(ConfigError, match="and SPARK_REMOTE 'sc://h:1' were both given"):
        connect_target(master="local[2]")


def test_an_inherited_connect_mark_without_a_session_is_dropped(monkeypatch):
    """A job started by a Connect process inherits pyspark's marks but holds no session: classic."""
    monkeypatch.setenv("SPARK_CONNECT_MODE_ENABLED", "1")
    monkeypatch.setenv("SPARK_LOCAL_REMOTE", "1")
    assert connect_target() is None
    import os

    assert "SPARK_CONNECT_MODE_ENABLED" not in os.environ and "SPARK_LOCAL_REMOTE" not in os.environ


class FakeConf:
    """A Connect server's runtime conf: static keys cannot be modified."""

    def __init__(self, values, static):
        self.values, self.static, self.set_calls = dict(values), set(static), []

    @property
    def getAll(self):
        return dict(self.values)

    def isModifiable(self, key):
        return key not in self.static

    def set(self, key, value):
        assert key not in self.static
        self.set_calls.append(key)
        self.values[key] = value


def test_runtime_settings_are_set_and_kept_static_ones_are_named(caplog):
    conf = FakeConf({"spark.sql.shuffle.partitions": "200", "spark.locality.wait": "3s"},
                    static={"spark.locality.wait", "spark.driver.maxResultSize", "spark.ui.enabled",
                            "spark.task.maxDirectResultSize", "spark.rpc.message.maxSize",
                            "spark.python.worker.reuse", "spark.ui.showConsoleProgress"})
    spark = type("Session", (), {"conf": conf})()
    with caplog.at_level(logging.WARNING, logger="sparkw2v.session"):
        _apply_runtime_conf(spark, {"spark.sql.shuffle.partitions": "2", "spark.ui.enabled": "false"})
    assert conf.values["spark.sql.shuffle.partitions"] == "2"  # asked for: set
    assert conf.values["spark.locality.wait"] == "3s"  # a default the server has its own value of: kept
    assert conf.values["spark.sql.adaptive.enabled"] == DEFAULT_CONF["spark.sql.adaptive.enabled"]  # unset: default
    assert "spark.ui.enabled" not in conf.set_calls
    assert "keeps its own spark.ui.enabled" in caplog.text  # asked for, static: named once
    assert "spark.locality.wait" not in caplog.text  # not asked for by the caller: no noise


@pytest.mark.parametrize("master", ["local", "local[2]", "local[*]", "local[4,3]", " local[2] "])
def test_a_local_master_gets_the_quiet_daemon(master, monkeypatch):
    monkeypatch.setenv("PYSPARK_PYTHON", sys.executable)
    assert local_daemon_conf(master, verbose=False) == {"spark.python.daemon.module": "sparkw2v.daemon"}
    assert local_daemon_conf(master, verbose=True) == {}  # --verbose: pyspark's daemon, every traceback


@pytest.mark.parametrize("master", ["spark://host:7077", "yarn", "k8s://https://host:6443", "local-cluster[2,1,1024]"])
def test_a_cluster_keeps_pyspark_s_daemon(master):
    """On a cluster the workers' stderr is the executors' log; the daemon there stays pyspark's."""
    assert local_daemon_conf(master, verbose=False) == {}


def test_workers_of_another_python_keep_pyspark_s_daemon(monkeypatch, tmp_path):
    """Spark starts the daemon before any task adds --py-files to the path: a worker
    interpreter that is not this one (another venv, which may lack sparkw2v) gets pyspark's."""
    other = tmp_path / "venv" / "bin" / "python"
    other.parent.mkdir(parents=True)
    other.symlink_to(os.path.realpath(sys.executable))  # the same interpreter, another environment
    monkeypatch.setenv("PYSPARK_PYTHON", str(other))
    assert local_daemon_conf("local[2]", verbose=False) == {}
    monkeypatch.delenv("PYSPARK_PYTHON")
    assert local_daemon_conf("local[2]", verbose=False) == {"spark.python.daemon.module": "sparkw2v.daemon"}


def test_the_quiet_daemon_imports_no_numpy_or_pyarrow():
    """Spark's daemon forks its workers: what it imports must start no thread (numpy and pyarrow do)."""
    import subprocess

    code = ("import sys, sparkw2v.daemon; "
            "print(sorted(m for m in ('numpy', 'pyarrow', 'pandas', 'numba') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stderr[-2000:]
