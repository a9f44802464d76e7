"""spark-submit jobs/prepare.py --input RAW --output PARQUET

Raw text (a file or a directory of files; plain, .gz or .bz2) -> Parquet with one string
column ``text``: one row per line, lines longer than --row-tokens tokens (a text8-style
single-line corpus) cut into rows of --row-tokens tokens. Streams with bounded memory.
"""

from __future__ import annotations

import argparse
import sys
import time

from sparkw2v import cli
from sparkw2v.errors import SparkW2VError
from sparkw2v.prepare import prepare_text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", required=True, help="text file or directory (any fsspec URL)")
    parser.add_argument("--output", required=True, help="output Parquet directory")
    parser.add_argument("--row-tokens", type=int, default=1000, help="max tokens per row (default 1000)")
    parser.add_argument("--rows-per-file", type=int, default=4096, help="rows per Parquet part file")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing prepared corpus once the new one is complete")
    parser.add_argument("--verbose", action="store_true", help="(accepted for symmetry; prepare runs no Spark)")
    args = parser.parse_args(argv)
    cli.setup(args.verbose)
    if args.row_tokens < 1 or args.rows_per_file < 1:
        parser.error("--row-tokens and --rows-per-file must be >= 1")
    start = time.perf_counter()
    try:
        stats = prepare_text(args.input, args.output, args.row_tokens, args.rows_per_file, args.overwrite)
    except SparkW2VError as exc:
        return cli.error("prepare", str(exc))
    stats["seconds"] = round(time.perf_counter() - start, 2)
    cli.result(stats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
