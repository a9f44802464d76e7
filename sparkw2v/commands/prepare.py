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
from sparkw2v.prepare import prepare_text

# A row of more tokens than a training row holds (encode.MAX_ROW_WORDS) is cut there anyway;
# a part file of more rows than this would be held in memory whole while written.
MAX_ROW_TOKENS = 10_000
MAX_ROWS_PER_FILE = 1_000_000


def main(argv: list[str] | None = None) -> int:
    parser = cli.ArgumentParser("prepare", description=__doc__)
    parser.add_argument("--input", type=cli.path_arg, required=True, help="text file or directory (any fsspec URL)")
    parser.add_argument("--output", type=cli.path_arg, required=True, help="output Parquet directory")
    parser.add_argument("--row-tokens", type=cli.int_in(1, MAX_ROW_TOKENS), default=1000,
                        help=f"max tokens per row (default 1000, at most {MAX_ROW_TOKENS})")
    parser.add_argument("--rows-per-file", type=cli.int_in(1, MAX_ROWS_PER_FILE), default=4096,
                        help=f"rows per Parquet part file (default 4096, at most {MAX_ROWS_PER_FILE})")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing prepared corpus once the new one is complete")
    parser.add_argument("--verbose", action="store_true", help="(accepted for symmetry; prepare runs no Spark)")
    parser.add_argument("--remote", metavar="URL", help="(accepted for symmetry with the other jobs, like "
                        "SPARK_REMOTE; prepare runs no Spark)")
    args = parser.parse_args(argv)
    cli.setup(args.verbose)
    return cli.run("prepare", lambda: _prepare(args),
                   interrupted="nothing was kept (the unfinished corpus is removed): run it again")


def _prepare(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    stats = prepare_text(args.input, args.output, args.row_tokens, args.rows_per_file, args.overwrite)
    stats["seconds"] = round(time.perf_counter() - start, 2)
    cli.result(stats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
