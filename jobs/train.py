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

from sparkw2v.config import add_config_arguments, load_config, overrides_from_args
from sparkw2v.errors import SparkW2VError
from sparkw2v.pipeline import train_model_dir
from sparkw2v.session import build_session


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", required=True, help="Parquet file or directory of text")
    parser.add_argument("--output", required=True, help="model directory to write")
    parser.add_argument("--config", help="TOML file of settings (see conf/default.toml)")
    parser.add_argument("--master", help="Spark master (default: spark-submit's, else local[*])")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing model directory")
    parser.add_argument("--resume", action="store_true",
                        help="continue an unfinished run from its last checkpoint (same settings)")
    parser.add_argument("--work-dir", help="where the blocks of W and W' live while training (default "
                        "MODEL_DIR/_blocks; a directory the driver and every executor reach)")
    add_config_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = load_config(args.config, overrides_from_args(args))
        spark = build_session("sparkw2v-train", args.master)
        summary = train_model_dir(spark, args.input, args.output, config, overwrite=args.overwrite,
                                  resume=args.resume, work_dir=args.work_dir)
        print(json.dumps(summary))
    except SparkW2VError as exc:
        print(f"train: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
