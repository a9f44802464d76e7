"""spark-submit jobs/train.py --input PARQUET --output MODEL_DIR [--config conf/default.toml] [--flags]

Trains skip-gram negative-sampling embeddings on the Parquet text at --input and writes
MODEL_DIR/embeddings/, MODEL_DIR/context_embeddings/, MODEL_DIR/metadata.json and, last,
MODEL_DIR/_SUCCESS. Every configuration key has a flag (--vector-size, --window, ...).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time

import sparkw2v
from sparkw2v import storage
from sparkw2v.config import add_config_arguments, load_config, overrides_from_args
from sparkw2v.embeddings import write_model
from sparkw2v.errors import OutputExistsError, OutputWriteError, SparkW2VError
from sparkw2v.session import build_session
from sparkw2v.trainer import train

log = logging.getLogger("sparkw2v.train")
CHECKPOINTS = "_checkpoint"  # inside the output directory, removed once the model is complete


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", required=True, help="Parquet file or directory of text")
    parser.add_argument("--output", required=True, help="model directory to write")
    parser.add_argument("--config", help="TOML file of settings (see conf/default.toml)")
    parser.add_argument("--master", help="Spark master (default: spark-submit's, else local[*])")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing model directory")
    parser.add_argument("--resume", action="store_true",
                        help="continue an unfinished run from its last checkpoint (same settings)")
    add_config_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = load_config(args.config, overrides_from_args(args))
        checkpoints = storage.child(args.output, CHECKPOINTS)
        if args.resume:
            if storage.is_complete(args.output):
                raise OutputExistsError(f"output {args.output!r} is already complete: nothing to resume")
        else:
            storage.check_output(args.output, args.overwrite)
            if args.overwrite:
                storage.prepare_output(args.output, overwrite=True)
        start = time.perf_counter()
        spark = build_session("sparkw2v-train", args.master)
        result = train(spark, args.input, config, checkpoint_url=checkpoints, resume=args.resume)
        write_start = time.perf_counter()
        metadata = {
            "sparkw2v_version": sparkw2v.__version__,
            "spark_version": spark.version,
            "master": spark.sparkContext.master,
            "input": args.input,
            "config": config.to_dict(),
            "corpus": result.stats,
            "resumed": args.resume,
            "rounds": result.rounds,
        }
        try:
            write_model(args.output, result.vocab.words, result.vocab.counts, result.W, result.Wp,
                        metadata, prepared=True, mllib_params={
                            "vectorSize": config.vector_size, "windowSize": config.window,
                            "minCount": config.min_count, "maxIter": config.epochs, "stepSize": config.alpha,
                            "seed": config.seed, "numPartitions": result.stats["num_partitions"]})
        except OSError as exc:
            again = ("train again with --resume (the final checkpoint is kept)" if config.checkpoint_every
                     else "train again with --overwrite")
            raise OutputWriteError(f"writing the model to {args.output!r} failed ({exc}); it has no "
                                   f"{storage.SUCCESS} marker, so it does not look complete: fix the "
                                   f"filesystem and {again}") from None
        fs, path = storage.url_to_fs(checkpoints)
        if fs.exists(path):
            fs.rm(path, recursive=True)
        total = time.perf_counter() - start
        log.info("wrote %s (%.1f s); total %.1f s", args.output, time.perf_counter() - write_start, total)
        print(json.dumps({"output": args.output, "total_seconds": round(total, 2),
                          **{k: result.stats[k] for k in ("vocab_size", "train_words_per_epoch",
                                                          "train_seconds", "words_per_sec")}}))
    except SparkW2VError as exc:
        print(f"train: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
