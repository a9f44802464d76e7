"""spark-submit jobs/train.py --input PARQUET --output MODEL_DIR [--config conf/default.toml] [--flags]
spark-submit jobs/train.py --input NEW_PARQUET --output MODEL_DIR --init-from EARLIER_MODEL (warm start)
python jobs/train.py --remote sc://HOST:PORT ... (Spark Connect; or SPARK_REMOTE=sc://HOST:PORT)

Trains skip-gram negative-sampling embeddings on the Parquet text at --input and writes
MODEL_DIR/embeddings/, MODEL_DIR/context_embeddings/, MODEL_DIR/metadata.json and, last,
MODEL_DIR/_SUCCESS. Every configuration key has a flag (--vector-size, --window, ...).
"""

from __future__ import annotations

import argparse
import logging
import sys

from sparkw2v import cli, report, storage
from sparkw2v.config import add_config_arguments, load_config, overrides_from_args
from sparkw2v.pipeline import train_model_dir
from sparkw2v.session import build_session

log = logging.getLogger("sparkw2v.train")


def main(argv: list[str] | None = None) -> int:
    parser = cli.ArgumentParser("train", description=__doc__)
    parser.add_argument("--input", type=cli.path_arg, required=True, help="Parquet file or directory of text")
    parser.add_argument("--output", type=cli.path_arg, required=True, help="model directory to write")
    parser.add_argument("--config", type=cli.path_arg, help="TOML file of settings (see conf/default.toml)")
    parser.add_argument("--master", help="Spark master (default: spark-submit's, else local[*])")
    cli.add_remote_argument(parser)
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing model directory once the new one is complete")
    parser.add_argument("--resume", action="store_true",
                        help="continue an unfinished run from its last checkpoint (same settings)")
    parser.add_argument("--init-from", type=cli.path_arg, metavar="MODEL",
                        help="warm start: begin from the vectors of this earlier model (same vector_size); its words "
                        "stay, new words join by min_count over --input, counts and noise follow --input")
    parser.add_argument("--work-dir", type=cli.path_arg,
                        help="where the blocks of W and W' live while training, in a subdirectory of their "
                        "own (only that is removed; default MODEL_DIR.partial/_blocks; a directory the driver "
                        "and every executor reach)")
    parser.add_argument("--no-report", dest="report", action="store_false",
                        help="do not write the report into the model (MODEL_DIR/report/index.html: plots of the "
                        "run; written by default when matplotlib, the 'report' extra, is installed)")
    parser.add_argument("--verbose", action="store_true", help="show Spark's own log too")
    add_config_arguments(parser)
    args = parser.parse_args(argv)
    cli.setup(args.verbose)
    return cli.run("train", lambda: _train(args), interrupted=lambda: after_interrupt(args.output))


def _train(args: argparse.Namespace) -> int:
    config = load_config(args.config, overrides_from_args(args))
    spark = build_session("sparkw2v-train", args.master, remote=args.remote)
    written: dict = {}
    summary = train_model_dir(spark, args.input, args.output, config, overwrite=args.overwrite,
                              resume=args.resume, work_dir=args.work_dir, init_from=args.init_from,
                              before_commit=(lambda model: written.update(report=add_report(model)))
                              if args.report else None)
    if written.get("report"):
        summary["report"] = storage.child(storage.child(args.output, report.MODEL_REPORT), report.INDEX)
        log.info("report: %s", summary["report"])
    cli.result(summary)
    return 0


def add_report(model: str) -> bool:
    """Write the run's report into the model being committed (``report.write_training_report``:
    ``MODEL_DIR/report``) when matplotlib is installed; True if it was written. Without
    matplotlib, or when it cannot be written, one warning line and False: the model is complete
    either way (a half-written report is removed)."""
    if not report.matplotlib_available():
        log.warning("no report: it needs matplotlib (pip install 'sparkw2v[report]'), or run sparkw2v report later")
        return False
    try:
        report.write_training_report(model)
        return True
    except Exception as exc:  # a plot that fails must not lose the trained model
        log.warning("the report was not written (%s: %s): run sparkw2v report on the model", type(exc).__name__, exc)
        fs, path = storage.url_to_fs(storage.child(model, report.MODEL_REPORT))
        storage.remove_quietly(fs, path)
        return False


def after_interrupt(output: str) -> str:
    """What an interrupted run left, and how to go on: its OUTPUT.partial is kept exactly when
    it holds a checkpoint to resume from (``pipeline.train_model_dir``)."""
    partial = output.rstrip("/") + storage.PARTIAL
    try:
        fs, path = storage.url_to_fs(partial)
        kept = fs.exists(path)
    except Exception:  # the filesystem is failing: say nothing false
        return f"whatever it trained is in {partial!r} if that exists: run the same command with --resume"
    if kept:
        return f"its checkpoint is kept in {partial!r}: run the same command with --resume to continue it"
    return "nothing was kept (no checkpoint yet): run the same command again"


if __name__ == "__main__":
    sys.exit(main())
