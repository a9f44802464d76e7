"""The read-only mode of jobs/query.py against Spark's whole function registry: every function
is on the allow-list (with a reason) or refused; nothing that reaches the JVM, the filesystem,
the network or the process runs, wherever the call sits in the query."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sparkw2v.embeddings import write_model
from sparkw2v.sql import (READ_ONLY_FUNCTIONS, REFUSED_FUNCTIONS, TABLE_FUNCTIONS, QueryRefused, check_read_only,
                          register)

pytestmark = pytest.mark.spark

REPO = Path(__file__).resolve().parents[2]
ALLOWED = {name for _, names in READ_ONLY_FUNCTIONS.values() for name in names}

# What must never run in read-only mode, named so that a registry without one fails the test
# (a renamed function must be looked at again, not silently dropped from the check).
REFLECTION = ["reflect", "java_method", "try_reflect"]
FILES_AND_FORMATS = ["input_file_name", "input_file_block_start", "input_file_block_length", "from_protobuf",
                     "to_protobuf", "from_xml", "xpath", "xpath_string"]
PROCESS = ["current_user", "user", "session_user", "version", "current_database", "python_worker_logs"]


def refusal(spark, sql):
    """The refusal message of ``sql`` in read-only mode; None when it is allowed."""
    try:
        check_read_only(spark, sql)
    except QueryRefused as exc:
        return str(exc)
    return None


@pytest.fixture(scope="module")
def registry(spark):
    """Spark's function names (SHOW FUNCTIONS) and its table functions' names."""
    names = {r[0] for r in spark.sql("SHOW FUNCTIONS").collect()}
    tvfs = spark._jsparkSession.sessionState().tableFunctionRegistry().listFunction()
    return names, {tvfs.apply(i).funcName() for i in range(tvfs.size())}


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
    names, _ = registry
    assert len(names) > 400  # the whole registry, not a handful
    allowed = sorted(n for n in names if n.lower() in ALLOWED)
    # one query calling every allowed function passes the guard (the list is not vacuous) ...
    assert len(allowed) > 300
    assert refusal(spark, "SELECT " + ", ".join(f"`{n}`()" for n in allowed)) is None
    # ... and every other function of the registry is refused when called in a SELECT
    for name in sorted(set(names) - set(allowed)):
        why = refusal(spark, f"SELECT `{name}`()")
        assert why and repr(name) in why, name


def test_every_table_function_of_the_registry_is_allowed_or_refused(spark, registry):
    _, tvfs = registry
    assert {"range", "explode", "python_worker_logs"} <= tvfs
    for name in sorted(tvfs):
        why = refusal(spark, f"SELECT * FROM `{name}`()")
        assert (why is None) == (name.lower() in TABLE_FUNCTIONS), (name, why)


def test_reflection_files_and_the_process_are_refused_by_name(spark, registry):
    names, _ = registry
    assert set(REFLECTION + FILES_AND_FORMATS + PROCESS) <= names, "a refused function left the registry"
    refused = {name for _, group in REFUSED_FUNCTIONS.values() for name in group}
    for name in REFLECTION + FILES_AND_FORMATS + PROCESS:
        assert name in refused and name not in ALLOWED
        why = refusal(spark, f"SELECT {name}('x')") if name != "python_worker_logs" else \
            refusal(spark, f"SELECT * FROM {name}()")
        assert why and name in why, name


def test_a_function_new_to_the_registry_is_refused_until_listed(spark, registry):
    names, _ = registry
    spark.udf.register("zz_guard_new_function", lambda x: x)
    assert "zz_guard_new_function" in {r[0] for r in spark.sql("SHOW FUNCTIONS LIKE 'zz_guard*'").collect()}
    why = refusal(spark, "SELECT zz_guard_new_function(word) FROM vocab")
    assert "'zz_guard_new_function' is not one of the functions" in why


@pytest.mark.parametrize("sql", [
    "SELECT java_method('java.lang.System', 'getenv', 'PATH')",
    "SELECT reflect('java.lang.System', 'exit', 3)",
    "SELECT try_reflect('org.apache.hadoop.fs.FileUtil', 'chmod', '/tmp', '777')",
    "SELECT `REFLECT`('java.lang.System', 'getenv', 'PATH')",
    "SELECT system.builtin.reflect('java.lang.System', 'getenv', 'PATH')",
    "SELECT builtin.java_method('java.lang.System', 'getenv', 'PATH')",
    "SELECT IDENTIFIER('java_method')('java.lang.System', 'getenv', 'PATH')",
    "SELECT word FROM vocab WHERE word IN (SELECT reflect('java.lang.System', 'getenv', 'PATH'))",
    "SELECT (SELECT max(java_method('java.lang.System', 'getenv', 'PATH')) FROM vocab)",
    "SELECT * FROM vocab WHERE EXISTS (SELECT 1 FROM vocab v WHERE try_reflect('a', 'b') = v.word)",
    "WITH x AS (SELECT reflect('java.lang.System', 'getenv', 'PATH') AS e) SELECT * FROM x",
    "SELECT word FROM vocab ORDER BY reflect('java.lang.System', 'getenv', 'PATH')",
    "SELECT word FROM vocab GROUP BY word HAVING max(java_method('a', 'b')) > ''",
    "SELECT * FROM vocab LATERAL VIEW explode(array(reflect('a', 'b'))) t AS x",
    "SELECT * FROM vocab LATERAL VIEW java_method('a', 'b') t AS x",
    "SELECT * FROM vocab, LATERAL explode(array(try_reflect('a', 'b')))",
    "SELECT rank() OVER (PARTITION BY reflect('a', 'b') ORDER BY id) FROM vocab",
    "SELECT rank() OVER w FROM vocab WINDOW w AS (ORDER BY java_method('a', 'b'))",
    "SELECT sum(id) OVER (ORDER BY id ROWS BETWEEN 1 PRECEDING AND CURRENT ROW), reflect('a', 'b') FROM vocab",
    "SELECT * FROM w2v_neighbors(reflect('java.lang.System', 'getenv', 'PATH'), 3)",
    "SELECT * FROM range(length(java_method('a', 'b')))",
    "SELECT transform(array(word), x -> reflect('a', x)) FROM vocab",
    "SELECT count(*) FILTER (WHERE try_reflect('a', 'b') IS NULL) FROM vocab",
    "SELECT * FROM VALUES (reflect('a', 'b')) AS t(a)",
    "SELECT * FROM vocab PIVOT (max(java_method('a', 'b')) FOR word IN ('king'))",
    "SELECT word FROM vocab |> SELECT reflect('a', word)",
    "SELECT word FROM vocab UNION ALL SELECT reflect('a', 'b')",
])
def test_reflection_is_refused_wherever_it_is_called(spark, model, sql):
    why = refusal(spark, sql)
    assert why and any(f in why.lower() for f in ("reflect", "java_method", "identifier")), why


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
    assert refusal(spark, sql)


@pytest.mark.parametrize("sql", [
    "SELECT n.word, v.count FROM w2v_neighbors('king', 3) n JOIN vocab v USING (word) ORDER BY n.similarity DESC",
    "SELECT word, w2v_cosine(vector, w2v_vector('king')) AS c FROM embeddings ORDER BY c DESC LIMIT 3",
    "SELECT word, vector_cosine_similarity(vector, w2v_vector('queen')) FROM embeddings",
    "WITH a AS (SELECT * FROM w2v_analogy('man', 'king', 'woman', 2)) SELECT upper(word), round(similarity, 3) FROM a",
    "SELECT word, aggregate(vector, 0D, (acc, x) -> acc + x * x) AS sq FROM embeddings WHERE size(vector) = 4",
    "SELECT e.word, x FROM embeddings e LATERAL VIEW posexplode(vector) t AS i, x WHERE i = 0",
    "SELECT length(word) AS n, count(*), avg(count) FROM vocab GROUP BY 1 HAVING count(*) > 0 ORDER BY 1",
    "SELECT word, rank() OVER (ORDER BY count DESC) FROM vocab",
    "SELECT * FROM range(3)",
    "SELECT current_date() IS NOT NULL, rand(1) < 2, raise_error IS NULL FROM (SELECT NULL AS raise_error)",
])
def test_queries_of_the_model_pass_and_run(spark, model, sql):
    assert refusal(spark, sql) is None
    assert spark.sql(sql).collect()


# --- under spark-submit: one line on stderr, exit 2, nothing else on stdout ------------------

def submit(*argv):
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable,
               SPARK_CONF_DIR=str(REPO / "conf"))
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


def test_under_spark_submit_reflection_prints_nothing_of_the_environment(model):
    done = submit("--model", model, "--sql", "SELECT java_method('java.lang.System', 'getenv', 'PATH') AS p")
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
def test_under_spark_submit_a_failed_query_is_one_line(model, argv, message):
    line = only_error_line(submit("--model", model, *argv))
    assert message in line, line


def test_under_spark_submit_a_model_of_another_schema_is_one_line(model, tmp_path):
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
    line = only_error_line(submit("--model", str(path), "--sql", "SELECT count(*) FROM vocab"))
    assert str(part) in line and "vector array<float>" in line, line
