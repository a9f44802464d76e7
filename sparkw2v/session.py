"""SparkSession settings shared by the jobs and the tests."""

from __future__ import annotations

import os
import re
import sys

from .errors import ConfigError

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


def build_session(app_name: str = "sparkw2v", master: str | None = None,
                  conf: dict[str, str] | None = None):
    """Get or create the SparkSession with sparkw2v's settings.

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

    verbose = bool(os.environ.get("SPARKW2V_VERBOSE"))
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
    settings = {**DEFAULT_CONF, **(conf or {})}
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
    handle_interrupts()  # in place of the handler the SparkContext installed
    return spark


# Loggers of the JVM that report a failed task at ERROR level (its whole stack, for every
# attempt) before the driver gets the same failure as an exception: a cancelled job after
# Ctrl-C, a file that cannot be read. The jobs report such a failure in one line of their own;
# --verbose shows these too.
TASK_FAILURE_LOGGERS = (
    "org.apache.spark.executor.Executor",
    "org.apache.spark.scheduler.TaskSetManager",
    "org.apache.spark.scheduler.TaskSchedulerImpl",
    "org.apache.spark.api.python.PythonRunner",
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
