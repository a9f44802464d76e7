"""The read-only mode of jobs/query.py against Spark's whole function registry: every function
is on the allow-list (with a reason) or refused; nothing that reaches the JVM, the filesystem,
the network or the process runs, wherever the call sits in the query.

Both guards are held to this: the text guard (``check_statement``, every mode) and, in classic
Spark, the parse-tree guard (``check_tree`` over ``parse_tree``) on its own; ``check_read_only``
is both. Under Spark Connect (SPARKW2V_SPARK_MODE=connect) the tests that need py4j skip."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sparkw2v.embeddings import write_model
from sparkw2v.session import is_connect
from sparkw2v.sql import (_STRUCTURAL, READ_ONLY_FUNCTIONS, REFUSED_FUNCTIONS, TABLE_FUNCTIONS, QueryRefused,
                          check_read_only, check_statement, check_tree, parse_tree, register)
from tests.unit.test_sql_lexical import HIDDEN_CALLS, LOOKALIKES, MODEL_QUERIES, README_QUERIES, REFLECTION_POSITIONS

pytestmark = pytest.mark.spark

REPO = Path(__file__).resolve().parents[2]
ALLOWED = {name for _, names in READ_ONLY_FUNCTIONS.values() for name in names}

# What must never run in read-only mode, named so that a registry without one fails the test
# (a renamed function must be looked at again, not silently dropped from the check).
REFLECTION = ["reflect", "java_method", "try_reflect"]
FILES_AND_FORMATS = ["input_file_name", "input_file_block_start", "input_file_block_length", "from_protobuf",
                     "to_protobuf", "from_xml", "xpath", "xpath_string"]
PROCESS = ["current_user", "user", "session_user", "version", "current_database", "python_worker_logs"]


def _why(check, *args):
    try:
        check(*args)
    except QueryRefused as exc:
        return str(exc)
    return None


def refusals(spark, sql) -> dict:
    """Each guard's refusal of ``sql`` (None: allowed): "text" (check_statement), "tree" (the
    parsed plan, classic Spark only) and "read_only" (check_read_only, what jobs/query.py runs)."""
    out = {"text": _why(check_statement, sql), "read_only": _why(check_read_only, spark, sql)}
    if not is_connect(spark):
        out["tree"] = _why(lambda: check_tree(parse_tree(spark, sql)))
    return out


def refusal(spark, sql):
    """The refusal message of ``sql`` in read-only mode; None when it is allowed."""
    return _why(check_read_only, spark, sql)


def needs_py4j(spark, why):
    if is_connect(spark):
        pytest.skip(f"Spark Connect has no py4j: {why}")


@pytest.fixture(scope="module")
def registry(spark):
    """Spark's function names (SHOW FUNCTIONS; in both modes)."""
    return {r[0] for r in spark.sql("SHOW FUNCTIONS").collect()}


@pytest.fixture(scope="module")
def table_functions(spark):
    """The names of Spark's table functions (its table-function registry, read through py4j)."""
    needs_py4j(spark, "the table-function registry is read through the JVM")
    tvfs = spark._jsparkSession.sessionState().tableFunctionRegistry().listFunction()
    return {tvfs.apply(i).funcName() for i in range(tvfs.size())}


@pytest.fixture(scope="module")
def model(spark, tmp_path_factory):
    rng = np.random.default_rng(7)
    words = ("king", "queen", "man", "woman", "ship", "boat")
    vectors = rng.normal(size=(len(words), 4)).astype(np.float32)
    path = str(tmp_path_factory.mktemp("guard") / "model")
    write_model(path, words, np.arange(len(words), 0, -1), vectors, vectors, {"config": {"vector_size": 4}})
    register(spark, path)
    return path


def test_every_function_of_the_registry_is_allowed_with_a_reason_or_refused(spark, registry):
    names = registry
    assert len(names) > 400  # the whole registry, not a handful
    allowed = sorted(n for n in names if n.lower() in ALLOWED)
    # one query calling every allowed function passes every guard (the list is not vacuous) ...
    assert len(allowed) > 300
    everything = "SELECT " + ", ".join(f"`{n}`()" for n in allowed)
    assert set(refusals(spark, everything).values()) == {None}
    # ... and every other function of the registry is refused by every guard when called in a SELECT
    for name in sorted(set(names) - set(allowed)):
        for guard, why in refusals(spark, f"SELECT `{name}`()").items():
            assert why and repr(name) in why, (name, guard, why)


def test_no_keyword_let_through_before_a_parenthesis_is_a_function(spark, registry):
    """The text guard lets the keywords of _STRUCTURAL stand before '(' unchecked (IN, OVER,
    USING, ...): none may be a function Spark would call."""
    assert not {k.lower() for k in _STRUCTURAL} & {n.lower() for n in registry}


def test_every_table_function_of_the_registry_is_allowed_or_refused(spark, table_functions):
    tvfs = table_functions
    assert {"range", "explode", "python_worker_logs"} <= tvfs
    for name in sorted(tvfs):
        why = refusal(spark, f"SELECT * FROM `{name}`()")
        assert (why is None) == (name.lower() in TABLE_FUNCTIONS), (name, why)
        # the text guard alone: a table function is a call like any other, on the same allow-list
        assert (_why(check_statement, f"SELECT * FROM `{name}`()") is None) == (name.lower() in ALLOWED), name


def test_reflection_files_and_the_process_are_refused_by_name(spark, registry):
    names = registry
    assert set(REFLECTION + FILES_AND_FORMATS + PROCESS) <= names, "a refused function left the registry"
    refused = {name for _, group in REFUSED_FUNCTIONS.values() for name in group}
    for name in REFLECTION + FILES_AND_FORMATS + PROCESS:
        assert name in refused and name not in ALLOWED
        sql = f"SELECT {name}('x')" if name != "python_worker_logs" else f"SELECT * FROM {name}()"
        for guard, why in refusals(spark, sql).items():
            assert why and name in why, (name, guard, why)


def test_a_function_new_to_the_registry_is_refused_until_listed(spark):
    spark.udf.register("zz_guard_new_function", lambda x: x)
    assert "zz_guard_new_function" in {r[0] for r in spark.sql("SHOW FUNCTIONS LIKE 'zz_guard*'").collect()}
    why = refusal(spark, "SELECT zz_guard_new_function(word) FROM vocab")
    assert "'zz_guard_new_function' is not one of the functions" in why


@pytest.mark.parametrize("sql", REFLECTION_POSITIONS)
def test_reflection_is_refused_wherever_it_is_called(spark, model, sql):
    for guard, why in refusals(spark, sql).items():
        assert why and any(f in why.lower() for f in ("reflect", "java_method", "identifier")), (guard, why)


@pytest.mark.parametrize("sql", [
    "CREATE TEMPORARY FUNCTION f AS 'org.apache.hadoop.fs.FileUtil'",
    "CREATE FUNCTION f(x STRING) RETURNS STRING RETURN reflect('a', x)",
    "CREATE TEMPORARY FUNCTION f(x INT) RETURNS INT RETURN x",
    "ADD JAR '/tmp/x.jar'",
    "EXECUTE IMMEDIATE 'SELECT reflect(\"a\", \"b\")'",
    "DECLARE VARIABLE v STRING DEFAULT reflect('a', 'b')",
    "SELECT * FROM IDENTIFIER(:t)",
    "SELECT * FROM read_files('/etc')",
    "SELECT input_file_name() FROM vocab",
    "SELECT current_user, word FROM vocab",
])
def test_udf_registration_and_file_access_are_refused(spark, model, sql):
    for guard, why in refusals(spark, sql).items():
        assert why, guard


@pytest.mark.parametrize("sql", MODEL_QUERIES)
def test_queries_of_the_model_pass_and_run(spark, model, sql):
    assert set(refusals(spark, sql).values()) == {None}
    assert spark.sql(sql).collect()


@pytest.mark.parametrize("sql", README_QUERIES)
def test_the_readmes_queries_pass_and_run(spark, model, sql):
    assert set(refusals(spark, sql).values()) == {None}
    spark.sql(sql, args={"w": "king", "a": "man", "b": "king", "c": "woman"}).collect()


# --- the text guard's lexer against Spark's parser -----------------------------------------

def _called(node, out):
    if node.kind in ("UnresolvedFunction", "UnresolvedGenerator", "UnresolvedTableValuedFunction"):
        out.add(".".join(node.name).lower())
    for child in node.children:
        _called(child, out)
    return out


@pytest.mark.parametrize("sql", [s for s in HIDDEN_CALLS if '"reflect"' not in s])
def test_spark_calls_what_the_lexer_finds_behind_strings_and_comments(spark, sql):
    """The text guard refuses these for a call a lexer unlike Spark's would miss; Spark's own
    parser must see that call (a Spark whose lexer changed fails here)."""
    needs_py4j(spark, "Spark's parser is reached through the JVM")
    called = _called(parse_tree(spark, sql), set())
    assert called & {"reflect", "java_method", "builtin.reflect"}, called


@pytest.mark.parametrize("sql", LOOKALIKES)
def test_spark_calls_nothing_the_lexer_takes_for_text(spark, sql):
    needs_py4j(spark, "Spark's parser is reached through the JVM")
    called = _called(parse_tree(spark, sql), set())
    assert not called & {"reflect", "java_method"}, called
    assert _why(check_statement, sql) is None


# --- jobs/query.py in a process of its own: one line on stderr, exit 2, nothing on stdout ----

def submit(spark, *argv):
    """Run jobs/query.py: under spark-submit --master local[2] (classic), or as a Spark Connect
    client of the test session's server (``--remote sc://...``, the token in the environment)."""
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable,
               SPARK_CONF_DIR=str(REPO / "conf"))
    if is_connect(spark):
        cmd = [sys.executable, str(REPO / "jobs" / "query.py"), "--remote",
               f"sc://{spark.client._builder.endpoint}", *argv]
    else:
        cmd = [str(Path(sys.executable).parent / "spark-submit"), "--master", "local[2]",
               str(REPO / "jobs" / "query.py"), *argv]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)


def only_error_line(done):
    """The one ``query: error:`` line of a failed run; asserts exit 2, an empty stdout and no
    other line on stderr than the JVM's own start-up notice."""
    assert done.returncode == 2, (done.returncode, done.stdout[-2000:], done.stderr[-2000:])
    assert done.stdout == "", done.stdout[-3000:]
    lines = [x for x in done.stderr.splitlines() if not x.startswith("WARNING: Using incubator modules")]
    assert len(lines) == 1 and lines[0].startswith("query: error: "), done.stderr[-3000:]
    return lines[0]


def test_under_spark_submit_reflection_prints_nothing_of_the_environment(spark, model):
    done = submit(spark, "--model", model, "--sql", "SELECT java_method('java.lang.System', 'getenv', 'PATH') AS p")
    line = only_error_line(done)
    assert "'java_method' is refused" in line and "--allow-all-sql" in line
    assert os.environ["PATH"] not in done.stdout + done.stderr


@pytest.mark.parametrize("argv, message", [
    # PySpark's 3-8 KB JSON error record stays off stdout
    (["--sql", "SELECT nope FROM vocab"], "UNRESOLVED_COLUMN"),
    # the reason of a failure in a Python worker, not "An exception was thrown from the Python worker:"
    (["--sql", "SELECT * FROM w2v_neighbors('king', :k)", "--param", "k:float=nan"],
     "k must be a whole number of neighbours, not nan"),
    # a type error inside a w2v function: no executor ERROR log (Java stack) before the line
    (["--sql", "SELECT w2v_cosine(vector, 1) FROM embeddings"], "has no len()"),
])
def test_under_spark_submit_a_failed_query_is_one_line(spark, model, argv, message):
    line = only_error_line(submit(spark, "--model", model, *argv))
    assert message in line, line


def test_under_spark_submit_a_model_of_another_schema_is_one_line(spark, model, tmp_path):
    """A Parquet part whose vectors are doubles (a hand-written table) is refused from its footer,
    before Spark's scan would fail in an executor."""
    import shutil

    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "m"
    shutil.copytree(model, path)
    part = sorted((path / "embeddings").glob("*.parquet"))[0]
    table = pq.read_table(part)
    table = table.set_column(3, "vector", table.column("vector").cast(pa.list_(pa.float64())))
    pq.write_table(table, part)
    line = only_error_line(submit(spark, "--model", str(path), "--sql", "SELECT count(*) FROM vocab"))
    assert str(part) in line and "vector array<float>" in line, line
