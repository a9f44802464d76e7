"""python jobs/report.py MODEL_DIR [--out DIR] [--evaluation FILE.json] [--overwrite]

Writes a training report a person opens (sparkw2v.report): PNG plots of the model's
metadata.json -- the mean SGNS loss and learning rate per cycle (loss.png), words/s per epoch
and cumulative (throughput.png), seconds per stage of the run and of the tasks per epoch
(stages.png), memory per role when the metadata records it (memory.png) -- and index.html
holding them with a line on what each shows, the run's settings, the corpus statistics and the
evaluation summary (--evaluation FILE, written by jobs/evaluate.py --json FILE; default
MODEL_DIR.evaluation.json when it exists).

The report goes to --out (default MODEL_DIR.report, beside the model: nothing is written into
the model directory). A non-empty --out is refused unless --overwrite, which replaces only the
report's own files in it. Prints the report's files as one JSON line. Needs matplotlib, the
optional extra: pip install 'sparkw2v[report]'. Needs no Spark session.
"""

from __future__ import annotations

import argparse
import sys

from sparkw2v import cli
from sparkw2v.report import default_out, write_report


def main(argv: list[str] | None = None) -> int:
    parser = cli.ArgumentParser("report", description=__doc__)
    parser.add_argument("model", type=cli.path_arg, metavar="MODEL_DIR",
                        help="model directory written by jobs/train.py")
    parser.add_argument("--out", type=cli.path_arg, metavar="DIR",
                        help="directory of the report (default MODEL_DIR.report, beside the model)")
    parser.add_argument("--evaluation", type=cli.path_arg, metavar="FILE",
                        help="evaluation to summarise, written by jobs/evaluate.py --json FILE "
                        "(default MODEL_DIR.evaluation.json when it exists)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the report's files in a non-empty --out (nothing else in it is touched)")
    parser.add_argument("--remote", metavar="URL", help="(accepted for symmetry with the other jobs; the report "
                        "runs no Spark)")
    args = parser.parse_args(argv)
    cli.setup()
    return cli.run("report", lambda: _report(args), interrupted="the report may be incomplete: run it again "
                   "with --overwrite")


def _report(args: argparse.Namespace) -> int:
    result = write_report(args.model, args.out or default_out(args.model), args.evaluation, args.overwrite)
    cli.result(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
