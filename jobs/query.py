"""spark-submit jobs/query.py --model MODEL_DIR --sql "SELECT * FROM w2v_neighbors(:w, 10)" --param w=king

Registers the model's views and functions (see sparkw2v.sql) and prints the query's rows and
how long it took. Words go in --param NAME=VALUE (named SQL parameters), never into the text.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from sparkw2v.errors import SparkW2VError
from sparkw2v.session import build_session
from sparkw2v.sql import register


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="model directory written by jobs/train.py")
    parser.add_argument("--sql", required=True, action="append", help="SQL to run (repeatable)")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="named parameter :NAME for the SQL (repeatable)")
    parser.add_argument("--master", help="Spark master (default: spark-submit's, else local[*])")
    args = parser.parse_args(argv)
    params = {}
    for item in args.param:
        name, sep, value = item.partition("=")
        if not sep or not name:
            parser.error(f"--param takes NAME=VALUE, got {item!r}")
        params[name] = value
    spark = build_session("sparkw2v-query", args.master)
    try:
        register(spark, args.model)
    except SparkW2VError as exc:
        print(f"query: error: {exc}", file=sys.stderr)
        return 2
    for sql in args.sql:
        start = time.perf_counter()
        rows = spark.sql(sql, args=params or None).collect()
        seconds = time.perf_counter() - start
        print(json.dumps({"sql": sql, "params": params, "seconds": round(seconds, 3),
                          "rows": [r.asDict(recursive=True) for r in rows]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
