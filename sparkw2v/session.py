"""SparkSession settings shared by the jobs and the tests."""

from __future__ import annotations

import os
import sys

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
    sparkw2v are importable in local mode.
    """
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(app_name)
    if master:
        builder = builder.master(master)
    elif "spark.master" not in _submitted_conf():
        builder = builder.master("local[*]")
    for key, value in {**DEFAULT_CONF, **(conf or {})}.items():
        if key not in _submitted_conf():
            builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark


def _submitted_conf() -> dict[str, str]:
    """Spark properties given to spark-submit (--master, --conf ...).

    spark-submit hands them to the JVM it starts before the Python driver, as system
    properties; SparkConf reads them once the Python side is attached to that JVM.
    """
    from pyspark import SparkConf, SparkContext

    SparkContext._ensure_initialized()
    return dict(SparkConf().getAll())
