"""Train and write a model directory end to end: what ``jobs/train.py`` runs.

The blocks of W and W' live in ``MODEL_DIR/_blocks`` while training (``blockstore``; its
states are the checkpoints); when training is done the executors write the model's tables from
them (``modelwriter``), the driver its metadata and, last, ``_SUCCESS``, and the blocks are
removed once the model is complete. The driver never holds W or W'.
"""

from __future__ import annotations

import logging
import time

from . import __version__, storage
from .config import TrainConfig
from .errors import OutputExistsError, OutputWriteError
from .trainer import train

log = logging.getLogger(__name__)

BLOCKS = "_blocks"  # inside the output directory while training


def train_model_dir(spark, input_path: str, output: str, config: TrainConfig, *, overwrite: bool = False,
                    resume: bool = False, work_dir: str | None = None) -> dict:
    """Train on the Parquet text at ``input_path`` and write the model directory ``output``.

    Args:
        spark: the SparkSession (classic Spark).
        input_path: Parquet file or directory with the string column ``config.text_column``.
        output: the model directory (local path or fsspec URL; on a cluster one that every
            executor can reach: the blocks live in ``output/_blocks`` while training).
        config: training settings.
        overwrite: replace an existing output.
        resume: continue an unfinished run in ``output`` from its newest checkpoint.
        work_dir: where the blocks live while training (default ``output/_blocks``); a directory
            the driver and every executor reach, e.g. a faster filesystem than the output's.
            Removed once the model is complete.

    Returns:
        A summary: output, total_seconds, vocab_size, train_words_per_epoch, train_seconds,
        words_per_sec.

    Raises:
        OutputExistsError: the output exists (without ``overwrite``), or is complete (with
            ``resume``).
        OutputWriteError: the model or a checkpoint could not be written.
        ConfigError, InputError, TrainingDivergedError: see :func:`sparkw2v.trainer.train`.
    """
    blocks = work_dir or storage.child(output, BLOCKS)
    if resume:
        if storage.is_complete(output):
            raise OutputExistsError(f"output {output!r} is already complete: nothing to resume")
    else:
        storage.check_output(output, overwrite)
        if overwrite:
            storage.prepare_output(output, overwrite=True)
    start = time.perf_counter()
    result = train(spark, input_path, config, work_dir=blocks, resume=resume)
    metadata = {
        "sparkw2v_version": __version__,
        "spark_version": spark.version,
        "master": spark.sparkContext.master,
        "input": input_path,
        "config": config.to_dict(),
        "num_blocks": result.num_blocks,
        "corpus": result.stats,
        "resumed": resume,
        "cycles": result.cycles,
    }
    try:
        written = result.write_model(spark.sparkContext, output, metadata, mllib_params={
            "vectorSize": config.vector_size, "windowSize": config.window, "minCount": config.min_count,
            "maxIter": config.epochs, "stepSize": config.alpha, "seed": config.seed,
            "numPartitions": result.num_blocks})
    except OSError as exc:
        raise OutputWriteError(f"writing the model to {output!r} failed ({exc}); it has no "
                               f"{storage.SUCCESS} marker, so it does not look complete: fix the "
                               "filesystem and train again with --resume (the trained blocks are kept)") from None
    fs, path = storage.url_to_fs(blocks)
    if fs.exists(path):
        fs.rm(path, recursive=True)
    total = time.perf_counter() - start
    log.info("wrote %s from the executors (%.1f s); total %.1f s", output, written["seconds"], total)
    return {"output": output, "total_seconds": round(total, 2), "write_seconds": round(written["seconds"], 2),
            **{k: result.stats[k] for k in ("vocab_size", "train_words_per_epoch", "train_seconds",
                                            "words_per_sec")}}
