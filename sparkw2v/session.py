"""SparkSession settings shared by the jobs and the tests: a classic session (this process's
JVM, spark-submit's or one started here) or a Spark Connect session (a server elsewhere, or
one started here for ``local[N]``)."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import socket
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlparse

from .errors import ConfigError

log = logging.getLogger(__name__)

# Settings every sparkw2v session gets unless the user's spark-submit/conf sets them.
DEFAULT_CONF = {
    "spark.sql.shuffle.partitions": "8",
    "spark.sql.adaptive.enabled": "true",
    "spark.python.worker.reuse": "true",
    # the vocabulary (words and counts) is collected to the driver
    "spark.driver.maxResultSize": "4g",
    # task results straight in the task-status message rather than through the block manager
    "spark.task.maxDirectResultSize": str(100 << 20),
    "spark.rpc.message.maxSize": "256",
    "spark.ui.showConsoleProgress": "false",
    # no delay scheduling (see build_session): the barrier stage's tasks start at once
    "spark.locality.wait": "0",
}

TEST_CONF = {
    "spark.ui.enabled": "false",
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
    "spark.sql.adaptive.enabled": "false",
    "spark.driver.memory": "2g",
}

# The port a Spark Connect server listens on unless its URL names another (sc://HOST means
# sc://HOST:15002), as pyspark's client reads it.
CONNECT_DEFAULT_PORT = 15002


def build_session(app_name: str = "sparkw2v", master: str | None = None,
                  conf: dict[str, str] | None = None, remote: str | None = None):
    """Get or create the SparkSession with sparkw2v's settings: Spark Connect or classic.

    Spark Connect (see :func:`connect_target`) when ``remote`` is given (``sc://HOST:PORT``, or
    ``local[N]``: a Connect server this process starts with that master), else when the
    environment asks for it as pyspark reads it (``SPARK_REMOTE``; ``SPARK_API_MODE=connect``
    or ``spark.api.mode=connect`` in ``conf``, the server then started here with ``master``), or
    when this process already holds a Connect session (it is returned, as getOrCreate does).
    Otherwise classic Spark, as :func:`_classic_session` says.

    Raises:
        ConfigError: Spark could not start (a bad master URL, a bad setting), a Connect URL that
            is not one, a Connect server that cannot be reached, both --master and an sc:// URL,
            or pyspark without its Connect client (pip install 'pyspark[connect]').
    """
    target = connect_target(remote, master, conf)
    if target is None:
        return _classic_session(app_name, master, conf)
    return _connect_session(app_name, target, conf)


def connect_target(remote: str | None = None, master: str | None = None,
                   conf: dict[str, str] | None = None) -> str | None:
    """Where a Spark Connect session goes, or None for classic Spark: ``remote``, else
    ``SPARK_REMOTE``, else ``master`` (default ``local[*]``) when ``spark.api.mode`` is
    ``connect`` (``conf``, ``SPARK_API_MODE``, spark-submit's ``--conf``), else the Connect
    session this process holds, if any.

    Returns:
        ``sc://...``: a server that runs elsewhere; ``local``/``local[N]``/any other master URL:
        a server to start in this process with that master; ``""``: the Connect session this
        process already holds.

    Raises:
        ConfigError: ``remote`` is neither an ``sc://`` URL nor ``local[N]``; ``master`` given
            together with ``remote`` (a Connect server has its own master).
    """
    source = "--remote"
    if remote is None and os.environ.get("SPARK_REMOTE"):
        remote, source = os.environ["SPARK_REMOTE"], "SPARK_REMOTE"
    if remote is not None:
        remote = remote.strip()
        if not (remote.startswith("sc://") or re.fullmatch(r"local(-cluster)?(\[[^\]]*\])?", remote)):
            raise ConfigError(f"{source} {remote!r} is not a Spark Connect URL: give sc://HOST:PORT (a "
                              "running Spark Connect server) or local[N] (one started here)")
        if master:
            raise ConfigError(f"--master {master!r} and {source} {remote!r} were both given: --master is for classic "
                              "Spark; a Spark Connect server has its own master (local[N] names the one of a server "
                              "started here): give one of them")
        return remote
    if _api_mode(conf) == "connect":
        return master or "local[*]"
    if os.environ.get("SPARK_CONNECT_MODE_ENABLED"):  # pyspark's mark of a Connect session in this process
        if _held_connect_session() is not None:
            return ""
        # inherited from a parent process (a job started by a Connect test): this one holds none
        for name in ("SPARK_CONNECT_MODE_ENABLED", "SPARK_LOCAL_REMOTE"):
            os.environ.pop(name, None)
    return None


def _api_mode(conf: dict[str, str] | None) -> str:
    """``spark.api.mode`` as pyspark reads it: the session's conf, else ``SPARK_API_MODE``, else
    what spark-submit was given (``--conf spark.api.mode=connect`` reaches the Python driver in
    ``PYSPARK_REMOTE_INIT_CONF_*``)."""
    mode = (conf or {}).get("spark.api.mode") or os.environ.get("SPARK_API_MODE")
    if not mode:
        for i in range(int(os.environ.get("PYSPARK_REMOTE_INIT_CONF_LEN", "0") or 0)):
            try:
                mode = json.loads(os.environ.get(f"PYSPARK_REMOTE_INIT_CONF_{i}", "{}")).get("spark.api.mode") or mode
            except ValueError:
                pass
    return (mode or "classic").strip().lower()


def _verbose() -> bool:
    return bool(os.environ.get("SPARKW2V_VERBOSE"))


def _classic_session(app_name: str, master: str | None, conf: dict[str, str] | None):
    """The classic SparkSession (this process's own JVM, or spark-submit's).

    ``master`` defaults to what spark-submit was given, else ``local[*]``. The Python workers
    run the driver's interpreter unless PYSPARK_PYTHON says otherwise, so that numba and
    sparkw2v are importable in local mode. Spark's own log shows errors only (``conf/
    log4j2.properties`` for a JVM this process starts; the level for one spark-submit started)
    unless ``SPARKW2V_VERBOSE`` is set (``cli.setup(verbose=True)``).

    ``spark.locality.wait`` is 0 unless the user set it (spark-submit --conf, spark-defaults,
    ``conf``): an epoch's pairs are a shuffle whose map output sits on one host, so that host's
    task of the barrier stage is NODE_LOCAL and Spark's delay scheduling held the other tasks
    back for the default 3 s before launching them at ANY, every epoch (measured on 3 hosts of
    ``deploy/hosts.sh``: 4.2 s from the stage's submission to its tasks' start, 0.6-0.9 s at 0).
    A barrier stage starts all its tasks together anyway, and a task reads its pairs over the
    network at a cost far below 3 s. Spark reads the setting when it creates a task set, so it
    must be in the session's conf (a local property would not do).
    """
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    from .cli import LOG4J2, handle_interrupts

    verbose = _verbose()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(app_name)
    quiet = f"-Dlog4j2.configurationFile=file:{LOG4J2}" if not verbose and LOG4J2.exists() else ""
    # what only counts when the JVM starts (its heap, its options): given to it if this process starts it
    at_start = {k: v for k, v in (conf or {}).items() if k.startswith("spark.driver.")}
    submitted = _submitted_conf(quiet, at_start)
    if master:
        builder = builder.master(master)
    elif "spark.master" not in submitted:
        builder = builder.master("local[*]")
    settings = {**DEFAULT_CONF, **local_daemon_conf(master or submitted.get("spark.master", "local[*]"), verbose),
                **(conf or {})}
    for key, value in settings.items():
        if key not in submitted:
            builder = builder.config(key, value)
    if not verbose:  # a failed start is reported in one line below, not as the JVM's ERROR log and stack
        _set_log_level(SparkContext._jvm, "org.apache.spark.SparkContext", "OFF")
    try:
        spark = builder.getOrCreate()
        if not verbose:
            _set_log_level(SparkContext._jvm, "org.apache.spark.SparkContext", "ERROR")
    except Exception as exc:  # py4j: SparkException from the JVM (a bad master URL, a bad setting)
        raise ConfigError(f"Spark could not start: {_java_reason(exc)}; check --master (e.g. local[*], yarn, "
                          "spark://HOST:7077) and the Spark settings (spark-submit --conf, "
                          "spark-defaults.conf)") from None
    spark.sparkContext.setLogLevel("INFO" if verbose else "ERROR")
    if not verbose:
        quiet_task_failures(spark.sparkContext)
    handle_interrupts(spark)  # in place of the handler the SparkContext installed
    return spark


# Loggers of the JVM that report a failed task at ERROR level (its whole stack, for every
# attempt) before the driver gets the same failure as an exception: a cancelled job after
# Ctrl-C, a file that cannot be read. The jobs report such a failure in one line of their own;
# --verbose shows these too. ShuffleBlockFetcherIterator: a task cancelled while it reads its
# shuffle input logs "Error occurred while fetching local blocks, null" (seen after Ctrl-C
# under Spark Connect); a fetch that really fails reaches the driver as FetchFailedException.
# DAGScheduler: Ctrl-C reaches spark-submit's JVM too, whose shutdown hook stops the scheduler's
# event loop while it reads PySpark's own accumulator from the exiting driver: "Failed to update
# accumulator 0 (PythonAccumulatorV2)" and its stack after the job's one line (seen once in CI,
# 2026-12-07, when the Ctrl-C handler's silencing of the JVM came too late); a job that fails
# reaches the driver as an exception.
TASK_FAILURE_LOGGERS = (
    "org.apache.spark.executor.Executor",
    "org.apache.spark.scheduler.TaskSetManager",
    "org.apache.spark.scheduler.TaskSchedulerImpl",
    "org.apache.spark.scheduler.DAGScheduler",
    "org.apache.spark.api.python.PythonRunner",
    "org.apache.spark.storage.ShuffleBlockFetcherIterator",
)


# Loggers of a Spark Connect server that report at ERROR level what the client gets as an
# exception too (and the jobs report in one line): a failed start (SparkContext), every failed
# or interrupted operation (ErrorUtils, with its stack). Off for a server sparkw2v starts.
CONNECT_ERROR_LOGGERS = (
    "org.apache.spark.SparkContext",
    "org.apache.spark.sql.connect.utils.ErrorUtils",
)


def quiet_task_failures(sc) -> None:
    """Turn off the JVM's log of failed tasks (:data:`TASK_FAILURE_LOGGERS`)."""
    for name in TASK_FAILURE_LOGGERS:
        _set_log_level(sc._jvm, name, "OFF")


def _set_log_level(jvm, logger: str, level: str) -> None:
    """Set the log4j2 level of one of the JVM's loggers (``level``: OFF, ERROR, INFO, ...)."""
    log4j = jvm.org.apache.logging.log4j
    log4j.core.config.Configurator.setLevel(logger, getattr(log4j.Level, level))


def _java_reason(exc: Exception) -> str:
    """The first line of a Java exception that says why (e.g. "Could not parse Master URL: 'foo'")."""
    for line in str(exc).splitlines():
        found = re.search(r"(?:\w+\.)+\w*(?:Exception|Error): (.+)", line)
        if found:
            return found.group(1).strip()
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0][:300] if lines else type(exc).__name__


def _submitted_conf(java_options: str = "", at_start: dict[str, str] | None = None) -> dict[str, str]:
    """Spark properties given to spark-submit (--master, --conf ...).

    spark-submit hands them to the JVM it starts before the Python driver, as system
    properties; SparkConf reads them once the Python side is attached to that JVM. Run with
    ``python``, this process starts the JVM here, with ``java_options`` (the log configuration)
    and ``at_start`` (``spark.driver.*`` settings such as the heap, ``spark.driver.memory``):
    they can only be given at its start (set later, they would be silently ignored).
    """
    from pyspark import SparkConf, SparkContext

    from .cli import under_spark_submit

    at_start = dict(at_start or {})
    if java_options:
        at_start["spark.driver.extraJavaOptions"] = " ".join(
            x for x in (java_options, at_start.get("spark.driver.extraJavaOptions", "")) if x)
    if SparkContext._gateway is None and not under_spark_submit() and at_start:
        conf = SparkConf(loadDefaults=False).setAll(list(at_start.items()))
        SparkContext._ensure_initialized(conf=conf)
    else:
        SparkContext._ensure_initialized()
    return dict(SparkConf().getAll())


# ---------------------------------------------------------------------------- classic or Connect

def is_connect(spark) -> bool:
    """True for a Spark Connect session (``pyspark.sql.connect``: no SparkContext, no RDDs, no py4j)."""
    return type(spark).__module__.startswith("pyspark.sql.connect")


def master(spark) -> str:
    """The session's master URL (``local[2]``, ``spark://host:7077``, ``yarn``, ...), as the
    driver knows it: ``spark.master`` (a Connect session reads the server's)."""
    if not is_connect(spark):
        return spark.sparkContext.master
    try:
        return spark.conf.get("spark.master", "") or ""
    except Exception:  # a platform that hides it (e.g. serverless): treated as a cluster
        return ""


def describe(spark, text: str) -> None:
    """Name the jobs that follow in Spark's UI (classic Spark; a Connect session has no job
    descriptions to set, so nothing happens there)."""
    if not is_connect(spark):
        spark.sparkContext.setJobDescription(text)


def task_slots(spark) -> int:
    """How many tasks the cluster runs at once now (at least 1).

    Classic Spark: the scheduler's own count (``maxNumConcurrentTasks`` of the default resource
    profile), else ``defaultParallelism``. Spark Connect has no SparkContext to ask: the number
    of partitions Spark gives ``spark.range`` (its default parallelism) is used, found by a
    small job.
    """
    if not is_connect(spark):
        sc = spark.sparkContext
        try:
            jsc = sc._jsc.sc()
            slots = int(jsc.maxNumConcurrentTasks(jsc.resourceProfileManager().defaultResourceProfile()))
        except Exception:  # pragma: no cover - an internal API: fall back to the documented one
            slots = 0
        return max(1, slots or sc.defaultParallelism)
    from pyspark.sql import functions as F

    return max(1, spark.range(0, 1 << 16).select(F.spark_partition_id()).distinct().count())


# ---------------------------------------------------------------------------- Spark Connect

def _connect_session(app_name: str, target: str, conf: dict[str, str] | None):
    """A Spark Connect session to ``target`` (:func:`connect_target`): the one this process holds
    (``""``), a server elsewhere (``sc://``), or a server started here with that master.

    A server started here gets sparkw2v's settings (``DEFAULT_CONF``, then ``conf``) at its start,
    where static ones such as ``spark.locality.wait`` and the driver's heap count, and Spark's own
    log at errors only (INFO with ``SPARKW2V_VERBOSE``; :func:`_server_log_config`). A server elsewhere keeps what it was started
    with: ``conf``'s runtime SQL settings are set on the session, the rest is logged as not
    applied; ``DEFAULT_CONF``'s runtime ones are set where the server has no value of its own.
    """
    try:
        from pyspark.sql.connect.session import SparkSession as ConnectSession
    except ImportError as exc:
        raise ConfigError(f"Spark Connect needs pyspark's Connect client, which is not installed ({exc}): "
                          "pip install 'pyspark[connect]'") from None
    from .cli import handle_interrupts

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    spark = _held_connect_session()
    if spark is None and target.startswith("sc://"):
        _check_reachable(target)
        spark = ConnectSession.builder.remote(target).getOrCreate()
    elif spark is None:
        url = _start_local_server(ConnectSession, target, app_name, {**DEFAULT_CONF, **(conf or {})})
        spark = ConnectSession.builder.remote(url).getOrCreate()
    _apply_runtime_conf(spark, conf or {})
    handle_interrupts(spark)  # in place of the handler a server's SparkContext started here installed
    return spark


def _held_connect_session():
    """The Spark Connect session this process holds (active or default), else None."""
    try:
        from pyspark.sql.connect.session import SparkSession as ConnectSession

        return ConnectSession.active()
    except Exception:  # pyspark's NO_ACTIVE_OR_DEFAULT_SESSION, or no Connect client installed
        return None


_LOCAL_SERVER: dict[str, str] = {}


def local_server_url() -> str | None:
    """The ``sc://localhost:PORT`` URL of the Spark Connect server this process started last
    (:func:`build_session` with ``local[N]``), e.g. for a child process to connect to it (with
    this process's ``SPARK_CONNECT_AUTHENTICATE_TOKEN``); None if it started none."""
    return _LOCAL_SERVER.get("url")


def _check_reachable(url: str, timeout: float = 10.0) -> None:
    """Refuse an ``sc://`` URL that names no listening server, in one line and at once (pyspark's
    client would retry for minutes before it says so).

    Raises:
        ConfigError: the URL does not parse, or nothing accepts a connection at its host and port.
    """
    try:
        parsed = urlparse(url)
        host, port = parsed.hostname, parsed.port or CONNECT_DEFAULT_PORT
    except ValueError as exc:
        raise ConfigError(f"Spark Connect URL {url!r} does not parse ({exc}): give sc://HOST:PORT") from None
    if not host:
        raise ConfigError(f"Spark Connect URL {url!r} names no host: give sc://HOST:PORT")
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise ConfigError(f"cannot reach the Spark Connect server at {url} ({reason}): start it (e.g. "
                          "$SPARK_HOME/sbin/start-connect-server.sh) or fix --remote / SPARK_REMOTE "
                          "(sc://HOST:PORT; local[N] starts one here)") from None


def _start_local_server(connect_session_class, master_url: str, app_name: str, settings: dict[str, str]) -> str:
    """Start a Spark Connect server with ``master_url`` in a JVM of this process (the one
    spark-submit started, else a new one); its ``sc://localhost:PORT`` URL.

    pyspark's own ``remote("local[N]")`` always takes port 15002, so a second such process on
    the machine (another test run, a job started by a test) fails to start; the server here
    listens on a free port of the loopback interface instead, with pyspark's token for this
    process. ``settings`` reach the server at its start (static ones included). Stopping the
    session (``spark.stop()``) stops the server, as pyspark's local mode does.

    Raises:
        ConfigError: the server could not start (a bad master URL, a bad setting), in one line.
    """
    opts = {**local_daemon_conf(master_url, _verbose()), **settings, "spark.app.name": app_name,
            "spark.connect.grpc.binding.address": "127.0.0.1", "spark.connect.grpc.binding.port": str(_free_port())}
    log_config = _server_log_config(_verbose())
    if log_config is not None:
        opts["spark.driver.extraJavaOptions"] = " ".join(
            x for x in (f"-Dlog4j2.configurationFile=file:{log_config}",
                        opts.get("spark.driver.extraJavaOptions", "")) if x)
    port = opts["spark.connect.grpc.binding.port"]
    os.environ["SPARK_LOCAL_REMOTE"] = "1"  # pyspark's mark: stopping the session stops the server
    try:
        # pyspark's own start of a local server (what remote("local[N]") calls), with the port above
        connect_session_class._start_connect_server(master_url, opts)
    except Exception as exc:  # py4j: SparkException from the JVM (a bad master URL, a bad setting)
        os.environ.pop("SPARK_LOCAL_REMOTE", None)
        raise ConfigError(f"Spark could not start a Spark Connect server: {_java_reason(exc)}; check "
                          "--remote/--master (e.g. local[*], spark://HOST:7077) and the Spark settings "
                          "(spark-submit --conf, spark-defaults.conf)") from None
    os.environ["SPARK_CONNECT_MODE_ENABLED"] = "1"  # pyspark's mark of a Connect process (its functions follow it)
    _LOCAL_SERVER["url"] = f"sc://localhost:{port}"
    return _LOCAL_SERVER["url"]


def local_daemon_conf(master_url: str, verbose: bool) -> dict[str, str]:
    """``spark.python.daemon.module`` = :mod:`sparkw2v.daemon` for a local master (``local``,
    ``local[N]``, ``local[N,F]``) unless ``verbose``; else nothing. In local mode the Python
    workers' stderr is the user's terminal, where a worker of a cancelled task (Ctrl-C) would
    print pyspark's BrokenPipeError traceback; on a cluster it is the executor's log. A daemon
    the user's conf names wins (it is set later).

    Spark starts the daemon before any task, so before files given with ``--py-files`` or
    ``addPyFile`` are on its path: the module is set only when the workers run this
    interpreter (``PYSPARK_PYTHON`` unset or this one) and sparkw2v is a directory on disk
    (installed, or a checkout on the path), never a zip; else pyspark's daemon stays."""
    if verbose or not re.fullmatch(r"local(\[[^\]]*\])?", master_url.strip()):
        return {}
    workers = os.environ.get("PYSPARK_PYTHON") or sys.executable
    package = Path(__file__).resolve().parent
    # absolute paths, not resolved: another venv's python links to the same interpreter
    same_python = os.path.abspath(shutil.which(workers) or workers) == os.path.abspath(sys.executable)
    if not (same_python and (package / "daemon.py").is_file()):
        return {}
    return {"spark.python.daemon.module": "sparkw2v.daemon"}


def _free_port() -> int:
    """A TCP port of the loopback interface that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _server_log_config(verbose: bool = False) -> Path | None:
    """A log4j2 configuration for a Connect server started here: ``conf/log4j2.properties``
    (errors only), with the loggers of failed tasks (:data:`TASK_FAILURE_LOGGERS`, off as classic
    sessions set them through py4j) and :data:`CONNECT_ERROR_LOGGERS` off; ``verbose``: the same at INFO, all loggers on (a classic session's
    ``setLogLevel("INFO")``). Written to this user's temporary directory; None without the file."""
    from .cli import LOG4J2

    if not LOG4J2.exists():
        return None
    if verbose:  # a later key wins in a properties file
        levels, root = {}, "info"
    else:
        levels, root = {name: "off" for name in (*TASK_FAILURE_LOGGERS, *CONNECT_ERROR_LOGGERS)}, "error"
    text = LOG4J2.read_text() + "\n# sparkw2v.session, for a Spark Connect server started by sparkw2v\n" + \
        f"rootLogger.level = {root}\n" + "".join(f"logger.sparkw2v{i}.name = {name}\nlogger.sparkw2v{i}.level = {level}\n"
                                               for i, (name, level) in enumerate(levels.items()))
    folder = Path(tempfile.gettempdir()) / f"sparkw2v-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    path = folder / f"log4j2-connect-server-{root}.properties"
    if not path.exists() or path.read_text() != text:
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".properties")
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    return path


def _apply_runtime_conf(spark, conf: dict[str, str]) -> None:
    """Set ``conf``'s runtime SQL settings on a Connect session, and ``DEFAULT_CONF``'s where the
    server has no value of its own; log the settings the server keeps (static ones, fixed at
    its start) when they differ."""
    given = dict(getattr(spark.conf, "getAll", None) or {})
    kept = []
    for key, value in {**DEFAULT_CONF, **conf}.items():
        if key not in conf and key in given:
            continue
        if given.get(key) == value:
            continue
        try:
            modifiable = spark.conf.isModifiable(key)
        except Exception:
            modifiable = False
        if modifiable:
            spark.conf.set(key, value)
        elif key in conf:
            kept.append(key)
    if kept:
        log.warning("the Spark Connect server keeps its own %s (set where it starts, e.g. its "
                    "spark-defaults.conf or start-connect-server.sh --conf)", ", ".join(sorted(kept)))
