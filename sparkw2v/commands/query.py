"""spark-submit jobs/query.py --model MODEL_DIR --sql "SELECT * FROM w2v_neighbors(:w, 10)" --param w=king

Registers the model's views and functions (see sparkw2v.sql) and prints, one JSON line per
query, its rows and how long it took. Words go in --param NAME=VALUE (named SQL parameters),
never into the text; --param NAME:int=VALUE (or :float, :bool) gives a typed value.
--remote sc://HOST:PORT (or SPARK_REMOTE) queries through a Spark Connect server instead.

Queries are read-only by default: one SELECT (or WITH ... SELECT) over the views
``embeddings`` and ``vocab``, calling only the functions of an allow-list (Spark's pure
built-ins and the w2v functions: sparkw2v.sql.READ_ONLY_FUNCTIONS), checked before anything
runs: on the statement's text (every mode), on Spark's parsed plan (classic Spark, where the
JVM's parser is reachable), and on the files the analysed query would read (only the model's);
no command (INSERT, CREATE, CREATE FUNCTION, SET, ...), no other table, no file read by path,
no reflect()/java_method(), no function that names files or tells the process's user.
--allow-all-sql runs any Spark SQL with this process's rights to files and catalogs.
"""

from __future__ import annotations

import argparse
import re
import sys
import time

from pyspark.errors import PySparkException

from sparkw2v import cli
from sparkw2v.errors import SparkW2VError
from sparkw2v.session import build_session
from sparkw2v.sql import QueryRefused, check_read_only, check_reads, register

try:  # classic Spark's errors from the JVM; a Spark Connect client (pyspark-client) has no py4j
    from py4j.protocol import Py4JJavaError
except ImportError:  # pragma: no cover - depends on the installed client
    Py4JJavaError = PySparkException

_TYPES = {"str": str, "int": int, "float": float, "bool": lambda v: {"true": True, "false": False}[v.lower()]}


def parse_param(item: str) -> tuple[str, object]:
    """NAME=VALUE (a string) or NAME:TYPE=VALUE with TYPE str, int, float or bool.

    Raises:
        ValueError: naming the malformed item.
    """
    name, sep, value = item.partition("=")
    if not sep or not name:
        raise ValueError(f"--param takes NAME=VALUE or NAME:TYPE=VALUE, got {item!r}")
    name, _, kind = name.partition(":")
    kind = kind or "str"
    if kind not in _TYPES:
        raise ValueError(f"--param {item!r}: type {kind!r} is not one of {', '.join(_TYPES)}")
    try:
        return name, _TYPES[kind](value)
    except (ValueError, KeyError):
        raise ValueError(f"--param {item!r}: {value!r} is not a {kind}") from None


def _spark_error(exc: Exception) -> str:
    """The line of a Spark error that names the problem: for a failure in a Python worker (a w2v
    function given a bad argument), the last line of its Python traceback (``ValueError: k must
    be a whole number ...``); else the first line of Spark's message (its class, e.g.
    [UNBOUND_SQL_PARAMETER], and text)."""
    text = str(exc)
    if "Traceback (most recent call last)" in text:
        raised = re.findall(r"^(?:[A-Za-z_][\w.]*)(?:Error|Exception): (.+)$", text, re.MULTILINE)
        if raised:
            return raised[-1].strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def main(argv: list[str] | None = None) -> int:
    parser = cli.ArgumentParser("query", description=__doc__)
    parser.add_argument("--model", type=cli.path_arg, required=True, help="model directory written by jobs/train.py")
    parser.add_argument("--sql", required=True, action="append", help="SQL to run (repeatable)")
    parser.add_argument("--param", action="append", default=[], metavar="NAME[:TYPE]=VALUE",
                        help="named parameter :NAME for the SQL (repeatable)")
    parser.add_argument("--allow-all-sql", action="store_true",
                        help="run any Spark SQL, not only read-only queries of the model")
    parser.add_argument("--master", help="Spark master (default: spark-submit's, else local[*])")
    cli.add_remote_argument(parser)
    parser.add_argument("--verbose", action="store_true", help="show Spark's own log too")
    args = parser.parse_args(argv)
    cli.setup(args.verbose)
    return cli.run("query", lambda: _query(args), interrupted="nothing was written: run it again")


def _query(args: argparse.Namespace) -> int:
    """Register the model, run each query (read-only unless --allow-all-sql), print its rows."""
    try:
        params = dict(parse_param(item) for item in args.param)
    except ValueError as exc:
        return cli.error("query", str(exc))
    spark = build_session("sparkw2v-query", args.master, remote=args.remote)
    try:
        register(spark, args.model)
        # what a read-only query may read: the files of the views (Spark's own listing of them)
        model_files = set() if args.allow_all_sql else set(spark.table("embeddings").inputFiles())
    except (PySparkException, Py4JJavaError) as exc:  # Spark's own error scanning the model's files
        return cli.error("query", f"model {args.model!r} cannot be read: {_spark_error(exc)}; train it again")
    for sql in args.sql:
        start = time.perf_counter()
        try:
            if not args.allow_all_sql:
                check_read_only(spark, sql)  # before spark.sql, which runs a command at once
            frame = spark.sql(sql, args=params or None)
            if not args.allow_all_sql:
                check_reads(frame, model_files)  # the analysed plan, not yet run
            rows = frame.collect()
        except QueryRefused as exc:
            return cli.error("query", f"refused {sql!r}: {exc}; queries are read-only (one SELECT over the "
                             "views embeddings and vocab, calling Spark's pure built-in functions and the w2v "
                             "ones): pass --allow-all-sql to run any Spark SQL")
        except SparkW2VError:
            raise  # cli.run reports it in one line
        except Exception as exc:  # Spark's AnalysisException, ParseException, ...
            return cli.error("query", f"{sql!r} failed: {_spark_error(exc)}")
        seconds = time.perf_counter() - start
        cli.result({"sql": sql, "params": params, "seconds": round(seconds, 3),
                    "rows": [r.asDict(recursive=True) for r in rows]})
    return 0

if __name__ == "__main__":
    sys.exit(main())
