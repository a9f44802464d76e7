"""What the jobs share as command-line programs: results alone on stdout, errors and the log on
stderr, Spark's own log only when asked for.

Under ``spark-submit`` the Python driver's stdout and stderr both reach spark-submit's stdout
(Spark's PythonRunner merges them), so anything meant for stderr is written to the JVM's
``System.err`` instead, through py4j. Run with ``python jobs/...`` the streams are the
process's own.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

LOG4J2 = Path(__file__).resolve().parents[1] / "conf" / "log4j2.properties"
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def under_spark_submit() -> bool:
    """True when spark-submit started this Python process (it hands over its JVM's gateway)."""
    return "PYSPARK_GATEWAY_PORT" in os.environ


def _jvm_stderr():
    from pyspark import SparkContext

    SparkContext._ensure_initialized()
    return SparkContext._jvm.System.err


class StderrHandler(logging.Handler):
    """Log records to the real stderr: the JVM's under spark-submit, else sys.stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            write_stderr(self.format(record))
        except Exception:  # pragma: no cover - logging must never raise
            self.handleError(record)


def write_stderr(line: str) -> None:
    """One line on the real stderr."""
    if under_spark_submit():
        try:
            _jvm_stderr().println(line)
            return
        except Exception:  # pragma: no cover - no JVM to write to: fall back
            pass
    print(line, file=sys.stderr, flush=True)


def setup(verbose: bool = False) -> None:
    """Send the Python log (INFO and up) to stderr; ``verbose`` lets Spark's own log through too
    (``sparkw2v.session.build_session`` reads it from the environment)."""
    handler = StderrHandler()
    handler.setFormatter(logging.Formatter(_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    logging.getLogger("py4j").setLevel(logging.WARNING)
    os.environ["SPARKW2V_VERBOSE"] = "1" if verbose else ""


def error(job: str, message: str) -> int:
    """Report a refusal or failure: one line ``JOB: error: ...`` on stderr; returns exit code 2."""
    write_stderr(f"{job}: error: {' '.join(str(message).split())}")
    return 2


def result(obj) -> None:
    """A result on stdout, as one JSON line (or the text itself)."""
    text = obj if isinstance(obj, str) else json.dumps(obj, default=str)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
