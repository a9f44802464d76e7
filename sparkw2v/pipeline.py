"""Train and write a model directory end to end: what ``jobs/train.py`` runs.

The model is built in ``MODEL_DIR.partial`` (``storage.Staging``): the blocks of W and W' live
in its ``_blocks`` while training (``blockstore``; its states are the checkpoints); when
training is done the executors write the model's tables from them (``modelwriter``), the
driver its metadata and ``_SUCCESS``; the blocks are removed and the directory is renamed to
``MODEL_DIR``, replacing an earlier model only then (with ``overwrite``). A failed or refused
run leaves whatever was at ``MODEL_DIR`` as it was. The driver never holds W or W'.

With a ``work_dir`` the blocks live in the run's own subdirectory of it
(``WORK/sparkw2v-NAME-HASH``, the same for every run of one output, so --resume finds it); that
subdirectory alone is removed when the model is complete, never ``work_dir`` or anything else
in it.
"""

from __future__ import annotations

import logging
import time
from typing import Callable

from . import __version__, session, storage
from .config import TrainConfig
from .errors import OutputExistsError, OutputWriteError
from .trainer import train

log = logging.getLogger(__name__)

BLOCKS = "_blocks"  # inside the output directory while training


def train_model_dir(spark, input_path: str, output: str, config: TrainConfig, *, overwrite: bool = False,
                    resume: bool = False, work_dir: str | None = None, init_from: str | None = None,
                    before_commit: Callable[[str], None] | None = None) -> dict:
    """Train on the Parquet text at ``input_path`` and write the model directory ``output``.

    Args:
        spark: the SparkSession (classic Spark or Spark Connect).
        input_path: Parquet file or directory with the string column ``config.text_column``.
        output: the model directory (local path or fsspec URL; on a cluster one that every
            executor can reach: the model is built in ``output.partial`` by the executors). A
            relative path (also of ``work_dir`` and ``init_from``) is this process's
            (``storage.absolute``), not the executors' working directory's.
        config: training settings.
        overwrite: replace an existing model directory (sparkw2v's: its ``_sparkw2v.json``
            marker says so, and it holds nothing else), once the new model is complete.
        resume: continue an unfinished run in ``output.partial`` from its newest checkpoint.
        work_dir: a directory in which the blocks live while training, in the run's own
            subdirectory (default: ``output.partial/_blocks``); a directory the driver and every
            executor reach, e.g. a faster filesystem than the output's. Only the run's
            subdirectory is removed once the model is complete.
        init_from: warm start from this earlier model's vectors (``warmstart``). It may be
            ``output`` itself with ``overwrite`` (it is read before anything replaces it), not
            inside it nor around it.
        before_commit: called with the complete model's directory while it is still
            ``output.partial`` (e.g. to add the report to it); it must not raise.

    Returns:
        A summary: output, total_seconds, vocab_size, train_words_per_epoch, train_seconds,
        words_per_sec.

    Raises:
        InputError: the output or the work directory is, contains or lies inside the input, is
            in memory (``memory://``), or the output is a symbolic link.
        OutputExistsError: the output exists (without ``overwrite``), is complete (with
            ``resume``), is not sparkw2v's, or another run wrote it meanwhile (the model is then
            kept in ``output.partial``); see :class:`sparkw2v.storage.Staging`.
        OutputWriteError: the output or work directory cannot be created (read-only, a file in
            the path), or the model or a checkpoint could not be written.
        ConfigError, InputError, TrainingDivergedError: see :func:`sparkw2v.trainer.train`.
    """
    shown = output
    output, work_dir, init_from = (storage.absolute(p) if p else p for p in (output, work_dir, init_from))
    storage.check_distinct(input_path, output)
    if work_dir:
        storage.check_distinct(input_path, work_dir, "work directory")
    if init_from:
        if storage.same_location(init_from, output):
            if not overwrite:
                raise OutputExistsError(f"--init-from and --output are both {output!r}: to replace the model with "
                                        "its continuation, add --overwrite (it is replaced only when the new "
                                        "model is complete; an interrupted run resumes with --resume --overwrite); "
                                        "or give another --output")
        else:
            storage.check_distinct(init_from, output, source="the --init-from model")
    staging = storage.Staging(output, "model", overwrite=overwrite, resume=resume, work_dir=work_dir)
    partial = staging.begin()
    try:
        blocks = staging.work or storage.child(partial, BLOCKS)
        start = time.perf_counter()
        try:
            result = train(spark, input_path, config, work_dir=blocks, resume=resume, init_from=init_from)
        except BaseException:
            _drop_if_nothing_to_resume(staging, blocks)
            raise
        metadata = {
            "sparkw2v_version": __version__,
            "spark_version": spark.version,
            "master": session.master(spark),
            "input": input_path,
            "config": config.to_dict(),
            "num_blocks": result.num_blocks,
            "corpus": result.stats,
            "resumed": resume,
            "init_from": result.stats.get("warm_start"),
            "cycles": result.cycles,
            "memory": memory_record(result.stats),
        }
        try:
            written = result.write_model(spark, partial, metadata, mllib_params={
                "vectorSize": config.vector_size, "windowSize": config.window, "minCount": config.min_count,
                "maxIter": config.epochs, "stepSize": config.alpha, "seed": config.seed,
                "numPartitions": result.num_blocks})
        except OSError as exc:
            raise OutputWriteError(f"writing the model to {output!r} failed ({exc}); it has no "
                                   f"{storage.SUCCESS} marker, so it does not look complete: fix the "
                                   "filesystem and train again with --resume (the trained blocks are kept)") from None
        if before_commit is not None:
            before_commit(partial)
        if staging.work:
            staging.remove_work()
        else:
            fs, path = storage.url_to_fs(blocks)
            with storage.output_errors(f"removing the blocks {blocks}"):
                if fs.exists(path):
                    fs.rm(path, recursive=True)
        staging.commit()
    finally:
        staging.release()  # after a failure: the checkpoints are free to --resume at once
    total = time.perf_counter() - start
    log.info("wrote %s from the executors (%.1f s); total %.1f s", output, written["seconds"], total)
    return {"output": shown, "total_seconds": round(total, 2), "write_seconds": round(written["seconds"], 2),
            **{k: result.stats[k] for k in ("vocab_size", "train_words_per_epoch", "train_seconds",
                                            "words_per_sec")}}


def memory_record(stats: dict) -> dict:
    """Peak memory per role, in bytes, as far as this process can tell (the report plots it):
    the driver's Python process, and the largest Python worker that ran a training task (Spark
    reuses workers, so its peak covers the pairs stage of the same process too). The JVMs are
    not measured here (Spark's UI shows them)."""
    from .worker import peak_rss_bytes

    tasks = max((e.get("task_peak_rss_bytes_max", 0) for e in stats.get("epochs", [])), default=0)
    out = {"driver (Python)": {"peak_rss_bytes": peak_rss_bytes()}}
    if tasks:
        out["training task (Python worker)"] = {"peak_rss_bytes": int(tasks)}
    return out


def _drop_if_nothing_to_resume(staging: storage.Staging, blocks: str) -> None:
    """After a failed run: remove what it owns (OUTPUT.partial, its work subdirectory) unless
    it holds a state to resume from (so that a run refused for bad input leaves nothing behind,
    and one that diverged or crashed keeps its checkpoints)."""
    from .blockstore import BlockStore

    try:
        if staging.owned() and not BlockStore(blocks).states():
            staging.discard()
    except OSError:  # the filesystem is failing already
        pass
