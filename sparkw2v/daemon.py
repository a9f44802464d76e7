"""The Python daemon of a local-mode sparkw2v session (Spark's ``spark.python.daemon.module``):
pyspark's own, :mod:`pyspark.daemon`, except that a worker whose socket the JVM has closed
exits without a traceback.

When a task is cancelled (Ctrl-C, a failed job) while its Python worker computes, Spark closes
the worker's socket and kills the worker only seconds later; a worker that writes its result
before that gets ``BrokenPipeError`` or ``ConnectionResetError``, and pyspark's daemon prints
the traceback to its stderr. In local mode that stderr is the JVM's, the user's terminal: the
traceback lands beside the job's one-line report of the interrupt, about nothing the user can
act on (the task was cancelled on purpose). Here such a worker exits as pyspark's would after
the print (its task is over and nobody reads its socket), silently. Every other error is
pyspark's, unchanged, and so is the message pyspark prints itself when Spark's
``spark.python.daemon.killWorkerOnFlushFailure`` is false (the default is true).
``sparkw2v.session`` sets this module for local masters only (:func:`sparkw2v.session.
local_daemon_conf`: when the workers' interpreter can import it before any task starts),
unless the user's conf names another daemon or ``--verbose`` is given; on a cluster a worker's
stderr goes to the executor's log, not to the terminal.

Importing it imports :mod:`pyspark.daemon` and nothing heavy (no numpy, no pyarrow: the daemon
forks its workers, and must not start threads before it does).
"""

from pyspark import daemon as _pyspark

_pyspark_worker = _pyspark.worker


def worker(sock, authenticated: bool) -> int:
    """Run one task in this forked worker, as :func:`pyspark.daemon.worker` (``sock``: the
    socket from the JVM, ``authenticated``: whether it has been); its exit code (0: done, the
    worker may take another task).

    Returns 1 (the daemon then waits for the socket to close and ends the worker) instead of
    raising ``BrokenPipeError`` or ``ConnectionResetError``: the JVM closed the socket.
    """
    try:
        return _pyspark_worker(sock, authenticated)
    except (BrokenPipeError, ConnectionResetError) as exc:
        if exc.__context__ is not None and not isinstance(exc.__context__, OSError):
            raise  # the flush failed while another error left the task: pyspark prints both
        return 1


# pyspark's manager calls the worker by its module-level name, once per task
_pyspark.worker = worker

if __name__ == "__main__":
    _pyspark.manager()
