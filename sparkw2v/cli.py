"""What the jobs share as command-line programs: results alone on stdout, errors and the log on
stderr, Spark's own log only when asked for.

Under ``spark-submit`` the Python driver's stdout and stderr both reach spark-submit's stdout
(Spark's PythonRunner merges them), so anything meant for stderr is written to the JVM's
``System.err`` instead, through py4j. Run with ``python jobs/...`` the streams are the
process's own.
"""

from __future__ import annotations

import argparse
import errno
import json
import logging
import os
import re
import signal
import sys
import threading
from pathlib import Path
from typing import Callable

from .errors import SparkW2VError

# shipped inside the package (``conf/`` at the top of a checkout links here)
LOG4J2 = Path(__file__).resolve().parent / "conf" / "log4j2.properties"
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# exit status of a run stopped by Ctrl-C (SIGINT), as a shell reports it: 128 + 2
EXIT_INTERRUPTED = 128 + signal.SIGINT
# Whether --verbose was given, and whether the run was interrupted (from then on the log of
# the unwinding -- py4j's broken connection, Spark's cancelled jobs -- is noise: dropped).
_STATE: dict = {"verbose": False, "interrupted": False}
# (also "session": the SparkSession an interrupt cancels, "stopper": the thread cancelling it)


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
        if _STATE["interrupted"] and not _STATE["verbose"]:
            return
        try:
            write_stderr(self.format(record))
        except Exception:  # pragma: no cover - logging must never raise
            self.handleError(record)


def write_stderr(line: str) -> None:
    """One line on the real stderr.

    Under spark-submit: the JVM's System.err through py4j; when the JVM no longer answers (it
    is shutting down after Ctrl-C), its stderr file descriptor directly (the JVM is this
    process's parent); else this process's stderr.
    """
    if under_spark_submit():
        try:
            _jvm_stderr().println(line)
            return
        except Exception:  # no JVM to write to: fall back
            pass
        try:
            with open(f"/proc/{os.getppid()}/fd/2", "w") as fh:
                fh.write(line + "\n")
            return
        except OSError:
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
    _STATE.update(verbose=verbose, interrupted=False)
    if not verbose:
        quiet_pyspark_error_log()


def quiet_pyspark_error_log() -> None:
    """Keep PySpark's own error records off the streams: on every SQL error, PySpark 4 logs a
    3-8 KB JSON record (``pyspark.errors.exceptions.base.PySparkException._log_exception``) through
    the loggers ``SQLQueryContextLogger`` and ``DataFrameQueryContextLogger``, each made with a
    handler on the Python stderr, which spark-submit merges into stdout. The jobs report the
    error themselves, in one line; these loggers are made here first, without a handler, disabled."""
    from pyspark.logger import PySparkLogger

    for name in ("SQLQueryContextLogger", "DataFrameQueryContextLogger"):
        logger = PySparkLogger.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = False
        logger.disabled = True


def _on_interrupt(signum, frame) -> None:
    """SIGINT: stop the driver's work with KeyboardInterrupt (caught by :func:`run`).

    PySpark's own handler cancels the jobs from inside the signal handler, through the py4j
    connection the interrupted call is using: that re-entrant call fails and prints two
    tracebacks. Here the jobs are cancelled from another thread, on a connection of its own
    (under spark-submit the JVM got the signal too and stops them itself).
    """
    first = not _STATE["interrupted"]
    _STATE["interrupted"] = True
    if first:
        _STATE["stopper"] = threading.Thread(target=_stop_spark_quietly, name="sparkw2v-cancel", daemon=True)
        _STATE["stopper"].start()
    raise KeyboardInterrupt


def _stop_spark_quietly() -> None:
    """Cancel the running work: a Spark Connect session's operations (``interruptAll``, over
    its own gRPC connection; no py4j), else the classic SparkContext's jobs, its JVM's log
    silenced first (unless --verbose: what fails while the jobs are torn down, e.g. an
    accumulator update to the exiting driver, is noise)."""
    session = _STATE.get("session")
    try:
        if session is not None and type(session).__module__.startswith("pyspark.sql.connect"):
            session.interruptAll()
            return
        from pyspark import SparkContext

        sc = SparkContext._active_spark_context
        if sc is not None:
            if not _STATE["verbose"]:
                sc._jsc.setLogLevel("OFF")
            sc.cancelAllJobs()
    except Exception:  # the JVM or the server is going away already
        pass


def handle_interrupts(session=None) -> None:
    """Make SIGINT (Ctrl-C) raise KeyboardInterrupt quietly: see :func:`_on_interrupt`.

    Call it again after a SparkContext is created (its constructor installs PySpark's handler),
    with the session whose work an interrupt cancels (``sparkw2v.session.build_session`` does);
    a no-op outside the main thread (only it may set signal handlers).
    """
    if session is not None:
        _STATE["session"] = session
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _on_interrupt)


def add_remote_argument(parser: argparse.ArgumentParser) -> None:
    """``--remote URL``: a Spark Connect server (``sc://HOST:PORT``) or ``local[N]`` (one
    started here); default None, which ``sparkw2v.session.build_session`` reads as pyspark
    does: ``SPARK_REMOTE``, else ``SPARK_API_MODE=connect``, else classic Spark."""
    parser.add_argument("--remote", metavar="URL", default=None,
                        help="Spark Connect server, sc://HOST:PORT (or local[N]: one started here); "
                        "default: $SPARK_REMOTE, else classic Spark (--master)")


# errno -> what it means for the user and what to do about it
_USER_OS_ERRORS = {
    errno.ENOSPC: "no space left on the device: free some space or choose another location",
    errno.EDQUOT: "the disk quota is exceeded: free some space or choose another location",
    errno.EACCES: "permission denied: choose a location you may write (or read), or change its permissions",
    errno.EPERM: "operation not permitted: choose a location you may write, or change its permissions",
    errno.EROFS: "it is on a read-only filesystem: choose a writable location",
    errno.ENOTDIR: "a part of the path is a file, not a directory: choose another path",
    errno.EISDIR: "it is a directory: give the path of a file",
    errno.ENOENT: "it (or its parent directory) does not exist: check the path",
    errno.ELOOP: "too many levels of symbolic links (a link loop?): fix the link or choose another path",
    errno.ENAMETOOLONG: "the file name is too long: choose a shorter path",
    errno.EFBIG: "the file is too large for its filesystem: choose another location",
}


def os_error_errno(exc: OSError) -> int | None:
    """The errno of ``exc``: its attribute, else one quoted in its text (pyarrow's "[errno 28]")."""
    if exc.errno:
        return exc.errno
    found = re.search(r"\[errno (\d+)\]", str(exc), re.IGNORECASE)
    return int(found.group(1)) if found else None


def describe_os_error(exc: OSError) -> str | None:
    """One line naming the file, the problem and the fix of an OSError a user causes or meets
    (a full disk, a permission, a path through a file, ...); None for any other OSError."""
    code = os_error_errno(exc)
    if code not in _USER_OS_ERRORS:
        return None
    names = [repr(n) for n in (exc.filename, getattr(exc, "filename2", None)) if n]
    where = " -> ".join(names) + ": " if names else ""
    return f"{where}{os.strerror(code)} [{errno.errorcode.get(code, code)}]; {_USER_OS_ERRORS[code]}"


def run(job: str, body: Callable[[], int],
        interrupted: Callable[[], str] | str = "nothing was kept: run it again") -> int:
    """Run a job's ``body`` as a command-line program; its exit status.

    - SparkW2VError (bad input, refused settings, ...): one line ``JOB: error: ...``, 2.
    - OSError the user causes or meets (a full disk, a permission, a path through a file):
      one line naming the file, the problem and the fix, 2. Other OSErrors propagate.
    - KeyboardInterrupt (Ctrl-C): one line ``JOB: interrupted (Ctrl-C): ...`` and the
      ``interrupted`` advice (a string, or a function called then), 130; the log of the
      unwinding is dropped unless --verbose.
    """
    handle_interrupts()
    try:
        return body()
    except SparkW2VError as exc:
        return error(job, str(exc))
    except KeyboardInterrupt:
        return _interrupted(job, interrupted)
    except OSError as exc:
        line = describe_os_error(exc)
        if line is None:
            raise
        return error(job, line)
    except Exception:
        # Ctrl-C while py4j waited for the JVM: the KeyboardInterrupt is this error's context
        # (e.g. Py4JNetworkError "Answer from Java side is empty" as the gateway goes away)
        if _STATE["interrupted"]:
            return _interrupted(job, interrupted)
        raise


def _interrupted(job: str, interrupted: Callable[[], str] | str) -> int:
    """The end of a run stopped by Ctrl-C: one line with the advice, exit status 130."""
    _STATE["interrupted"] = True
    stopper = _STATE.pop("stopper", None)
    if stopper is not None:
        stopper.join(timeout=10)  # the JVM's log is off before the driver goes away
    try:
        advice = interrupted() if callable(interrupted) else interrupted
    except Exception as exc:  # pragma: no cover - the advice must not hide the interrupt
        advice = f"({exc})"
    write_stderr(f"{job}: interrupted (Ctrl-C); {advice}")
    return EXIT_INTERRUPTED


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser whose refusal of a command line is one line on stderr,
    ``JOB: error: ... (see --help)``, exit 2 (argparse's own prints the usage first)."""

    def __init__(self, job: str, **kwargs):
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(**kwargs)
        self.job = job

    def error(self, message: str):
        error(self.job, f"{message} (see --help)")
        raise SystemExit(2)


def path_arg(text: str) -> str:
    """An argparse ``type`` for a path or URL: refuses an empty one (``--input ""`` would name
    the current directory: prepare.py read every file below it)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path: give a file or directory (or URL)")
    return text


def int_in(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse ``type``: an integer in [low, high] (no upper bound when high is None);
    anything else is refused by argparse with one usage line naming the range, exit 2."""
    allowed = f"an integer >= {low}" if high is None else f"an integer in [{low}, {high}]"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer: it must be {allowed}") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{value} is out of range: it must be {allowed}")
        return value

    parse.__name__ = "int"  # argparse names the type in some messages
    return parse


def error(job: str, message: str) -> int:
    """Report a refusal or failure: one line ``JOB: error: ...`` on stderr; returns exit code 2."""
    write_stderr(f"{job}: error: {' '.join(str(message).split())}")
    return 2


def result(obj) -> None:
    """A result on stdout, as one JSON line (or the text itself)."""
    text = obj if isinstance(obj, str) else json.dumps(obj, default=str)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
