"""The read-only guard on a statement's text (sparkw2v.sql.check_statement), without Spark: the
one guard that runs under Spark Connect as well as classic Spark. Its lexer must split a
statement where Spark's does; where a lexer that differs from Spark's would hide a call inside
what it takes for a string or comment, the statement is refused."""

import pytest

from sparkw2v.sql import READ_ONLY_FUNCTIONS, REFUSED_FUNCTIONS, QueryRefused, Token, check_statement, tokenize
from sparkw2v.sql import _STRUCTURAL

# Every place a call can sit in a query (shared with tests/spark/test_sql_guard.py, which runs
# them through both guards in classic Spark and the text guard under Spark Connect).
REFLECTION_POSITIONS = [
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
]

# The README's examples and the queries of the model that tests/spark/test_sql_guard.py runs.
README_QUERIES = [
    "SELECT word, count FROM embeddings ORDER BY id LIMIT 10",
    "SELECT count(*) FROM vocab",
    "SELECT w2v_vector(:w)",
    "SELECT w2v_cosine(w2v_vector(:a), w2v_vector(:b))",
    "SELECT * FROM w2v_neighbors(:w, 10)",
    "SELECT * FROM w2v_analogy(:a, :b, :c, 5)",
    "SELECT n.word, n.similarity, v.count FROM w2v_analogy(:a, :b, :c, 5) n JOIN vocab v USING (word)",
]
MODEL_QUERIES = [
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
]

# Statements that write, run a program, set the session or read files by path.
COMMANDS = [
    "CREATE TEMPORARY FUNCTION f AS 'org.apache.hadoop.fs.FileUtil'",
    "CREATE FUNCTION f(x STRING) RETURNS STRING RETURN reflect('a', x)",
    "CREATE TABLE t USING parquet LOCATION '/tmp/t' AS SELECT * FROM vocab",
    "INSERT OVERWRITE DIRECTORY '/tmp/x' USING parquet SELECT * FROM vocab",
    "ADD JAR '/tmp/x.jar'",
    "EXECUTE IMMEDIATE 'SELECT reflect(\"a\", \"b\")'",
    "DECLARE VARIABLE v STRING DEFAULT reflect('a', 'b')",
    "SET spark.sql.runSQLOnFiles=true",
    "CACHE TABLE c AS SELECT * FROM vocab",
    "EXPLAIN SELECT 1",
    "BEGIN SELECT 1; END",
    "WITH x AS (SELECT * FROM vocab) INSERT INTO t SELECT * FROM x",
    "FROM vocab INSERT OVERWRITE DIRECTORY '/tmp/x' SELECT word",
    "WITH x AS (SELECT 1) DELETE FROM t",
    "WITH x AS (SELECT 1) MERGE INTO t USING x ON t.a = x.a WHEN MATCHED THEN DELETE",
    "SELECT 1; DROP TABLE vocab",
    "SELECT 1 ; SET a=b",
    "SELECT TRANSFORM(word) USING '/bin/sh -c id' AS (out) FROM vocab",
    "SELECT TRANSFORM(word) ROW FORMAT DELIMITED USING 'cat' FROM vocab",
    "FROM vocab SELECT MAP word USING 'cat' AS (w)",
    "",
    " -- only a comment",
]
FILE_READS = [
    "SELECT * FROM text.`/etc/passwd`",
    "SELECT word FROM vocab WHERE word IN (SELECT value FROM text.`/etc/passwd`)",
    "WITH x AS (SELECT * FROM csv.`/etc/hosts`) SELECT * FROM x",
    "SELECT * FROM parquet.`file:///tmp/x`",
    "SELECT * FROM `org.apache.spark.sql.execution.datasources.text.TextFileFormat`.`/etc/passwd`",
    "SELECT * FROM json.\"/etc/passwd\"",
    "SELECT * FROM text.file:///etc/passwd",
    "SELECT * FROM s3a://bucket/key",
    "SELECT * FROM read_files('/etc')",
    "SELECT input_file_name() FROM vocab",
    "SELECT * FROM vocab WHERE word = input_file_block_start()",
]

# Where a lexer unlike Spark's would see a string or comment, Spark sees a call (tests/spark/
# test_sql_guard.py holds Spark's parser to that).
HIDDEN_CALLS = [
    # Spark continues a -- comment over a backslash at the end of the line: the quote on the
    # next line is inside the comment, and reflect(...) on the line after is code
    "SELECT 1 -- c \\\n' \n, reflect('a', 'b') -- '",
    # /* */ nests: a lexer that closed the comment at the first */ would open a string at '
    "SELECT 1 /* /* */ ' */ , reflect('a', 'b') -- '",
    # ... but /*+ inside a comment opens nothing: the comment ends at the first */
    "SELECT /* /*+ */ reflect('a', 'b') -- */",
    # a raw string has no escapes: R'\' is closed
    "SELECT R'\\', reflect('a', 'b') -- '",
    "SELECT r'\\', reflect('a', 'b') -- '",
    'SELECT R"\\", reflect(\'a\', \'b\') -- "',
    # a backslash escapes the quote: 'it\'s' is one string
    "SELECT 'it\\'s', reflect('a', 'b') -- '",
    'SELECT "say \\"hi", reflect(\'a\', \'b\') -- "',
    # doubled quotes stay inside, in strings and `identifiers`
    "SELECT 'it''s', reflect('a', 'b')",
    "SELECT `a``b`, reflect('a', 'b')",
    "SELECT `a``b``` AS x, reflect('a', 'b')",
    # a comment or a line break between the name and its parenthesis is still a call
    "SELECT reflect /* hidden */ ('a', 'b')",
    "SELECT reflect\n('a', 'b')",
    "SELECT reflect -- c\n('a', 'b')",
    "SELECT java_method\t('a', 'b')",
    # a double-quoted name is an identifier in ANSI mode with doubleQuotedIdentifiers
    "SELECT \"reflect\"('a', 'b')",
]
# Strings, comments and structure that only look like calls.
LOOKALIKES = [
    "SELECT 1 -- reflect('a', 'b')",
    "SELECT 1 /* reflect('a', 'b') */",
    "SELECT 1 /* /* nested */ reflect('a', 'b') */",
    "SELECT 'reflect(1)' AS x",
    "SELECT \"java_method('a', 'b')\" AS x",
    "SELECT lower('reflect(') AS x, upper(')')",
    "SELECT R'reflect(\\' AS x",
    "SELECT `reflect('a')` FROM vocab",
    "SELECT '日本', 'naïve', `naïve` FROM vocab",
    "SELECT 'a''b', 'c\\'d', \"e\"\"f\" AS x",
    "SELECT * FROM VALUES (1, 2) AS t(a, b)",
    "SELECT CAST(1 AS DECIMAL(9, 2)), CAST('x' AS VARCHAR(3)), 1::DECIMAL(4, 1)",
    "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY count) FROM vocab",
    "SELECT word FROM vocab WHERE word IN ('a', 'b') AND (count > 1 OR NOT (id < 2)) LIMIT 3;",
    "(SELECT word FROM vocab) UNION (SELECT word FROM vocab)",
    "FROM vocab |> WHERE count > 1 |> AGGREGATE count(*)",
    "TABLE vocab",
    "VALUES (1), (2)",
    "SELECT v.user, e.current_user FROM vocab v JOIN embeddings e USING (word)",
    "SELECT 1.5e3, .5, 7L, 2D, 3BD, X'AB' AS b",
]


def refusal(sql):
    try:
        check_statement(sql)
    except QueryRefused as exc:
        return str(exc)
    return None


@pytest.mark.parametrize("sql", REFLECTION_POSITIONS)
def test_reflection_is_refused_wherever_it_is_called(sql):
    why = refusal(sql)
    assert why and any(f in why.lower() for f in ("reflect", "java_method", "identifier")), why


@pytest.mark.parametrize("sql", README_QUERIES + MODEL_QUERIES)
def test_queries_of_the_model_pass(sql):
    assert refusal(sql) is None


@pytest.mark.parametrize("sql", COMMANDS)
def test_commands_and_scripts_are_refused(sql):
    why = refusal(sql)
    assert why and "\n" not in why, why


@pytest.mark.parametrize("sql", FILE_READS)
def test_file_reads_are_refused(sql):
    why = refusal(sql)
    assert why and any(f in why for f in ("path", "URI", "read_files", "input_file")), why


@pytest.mark.parametrize("sql, message", [
    ("INSERT INTO t SELECT 1", "'INSERT' does not start a read-only query"),
    ("WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x", "INSERT writes"),
    ("SELECT 1; SELECT 2", "more than one statement"),
    ("SELECT TRANSFORM(word) USING 'cat' FROM vocab", "USING 'script' runs a program"),
    ("SELECT * FROM IDENTIFIER(:t)", "IDENTIFIER(...) is not allowed"),
    ("SELECT current_user, word FROM vocab", "'current_user' is the function current_user(), refused"),
    ("SELECT `session_user` FROM vocab", "is the function session_user(), refused"),
    ("SELECT word FROM vocab WHERE user IS NULL", "'user' is the function user()"),
    ("SELECT * FROM text.`/etc/passwd`", "'text.`/etc/passwd`' names a file or table by a quoted path"),
    ("SELECT db.w2v_cosine(vector, vector) FROM embeddings", "function 'db.w2v_cosine' is qualified"),
    ("SELECT system.builtin.abs(-1)", "function 'system.builtin.abs' is qualified"),
    ("SELECT `system`.`builtin`.`abs`(-1)", "function '`system`.`builtin`.`abs`' is qualified"),
    ("SELECT my_udf(word) FROM vocab", "function 'my_udf' is not one of the functions"),
    ("SELECT * FROM python_worker_logs()", "function 'python_worker_logs' is refused"),
])
def test_each_rule_names_what_it_refuses(sql, message):
    why = refusal(sql)
    assert why and message in why, why


# --- lexing: where a lexer unlike Spark's would see a string or comment, Spark sees a call ----

@pytest.mark.parametrize("sql", HIDDEN_CALLS)
def test_calls_hidden_from_a_naive_lexer_are_found(sql):
    why = refusal(sql)
    assert why and ("reflect" in why.lower() or "java_method" in why), why


@pytest.mark.parametrize("sql", LOOKALIKES)
def test_strings_comments_and_structure_that_only_look_like_calls_pass(sql):
    assert refusal(sql) is None


@pytest.mark.parametrize("sql", [
    "SELECT 'abc",
    "SELECT 'abc\\'",
    'SELECT "abc',
    "SELECT `abc",
    "SELECT R'abc",
    "SELECT 1 /* abc",
    "SELECT 1 /* /* */",
    "SELECT 'abc\\",
])
def test_what_is_not_closed_is_refused(sql):
    assert "is not closed" in refusal(sql)


@pytest.mark.parametrize("sql, char", [
    ("SELECT reflect\u00a0('a', 'b')", "U+00A0"),  # Spark's whitespace, not Python's word break
    ("SELECT reflect\u3000('a', 'b')", "U+3000"),
    ("SELECT ran\u212ak() OVER (ORDER BY id) FROM vocab", "U+212A"),  # KELVIN SIGN
    ("SELECT r\u0435flect('a', 'b')", "U+0435"),  # CYRILLIC SMALL LETTER IE
    ("SELECT reflect\uff08'a', 'b'\uff09", "U+FF08"),  # FULLWIDTH LEFT PARENTHESIS
    ("SELECT word FROM vocab WHERE id = 1 # comment", "U+0023"),
    ("SELECT $x", "U+0024"),
])
def test_characters_outside_ascii_and_sparks_punctuation_are_refused(sql, char):
    assert char in refusal(sql)


@pytest.mark.parametrize("sql", [
    "SELECT '${env:PATH}' AS p",
    "SELECT '${system:user.name}' AS p",
    "SELECT 1 -- ${spark.app.name}",
    "SELECT w2v_vector('${hiveconf:x}')",
])
def test_variable_substitution_is_refused_even_in_strings_and_comments(sql):
    assert "variable substitution" in refusal(sql)


def test_uri_names_are_refused():
    """Spark lexes letters://... as one name, '--' and '/*' included: what follows a URI's '--'
    is code to Spark, not a comment."""
    assert "makes a URI" in refusal("SELECT a://b--c, reflect('a', 'b')")
    assert "makes a URI" in refusal("SELECT * FROM vocab WHERE word = x://y/*z */")


def test_optimizer_hints_are_refused():
    assert "optimizer hints" in refusal("SELECT /*+ REPARTITION(reflect('a', 'b')) */ word FROM vocab")
    assert refusal("SELECT /**/ word FROM vocab") is None  # an empty comment is no hint


def test_the_lexer_splits_as_spark_does():
    def kinds(sql):
        return [(t.kind, t.text) for t in tokenize(sql)]

    assert kinds("SELECT `a``b`.c, 'x''y', \"p\\\"q\", R'\\' -- c \\\n' \n/* /* */ */ f(1)") == [
        ("word", "SELECT"), ("quoted", "a`b"), ("punct", "."), ("word", "c"), ("punct", ","),
        ("string", "x''y"), ("punct", ","), ("dstring", 'p\\"q'), ("punct", ","), ("string", "\\"),
        ("word", "f"), ("punct", "("), ("word", "1"), ("punct", ")")]
    assert tokenize("a\r\n--x\\\r\nb") == [Token("word", "a", 0), Token("word", "b", 9)]


# --- the lists themselves ----------------------------------------------------------------------

def test_structural_keywords_are_neither_allowed_nor_refused_functions():
    """A keyword let through before '(' must not be a function name: if Spark resolved it as
    one, the call would escape the allow-list (tests/spark/test_sql_guard.py checks them against
    Spark's registry too)."""
    allowed = {n for _, names in READ_ONLY_FUNCTIONS.values() for n in names}
    refused = {n for _, names in REFUSED_FUNCTIONS.values() for n in names}
    assert not {k.lower() for k in _STRUCTURAL} & (allowed | refused)


def test_every_allowed_function_passes_and_every_refused_one_is_refused():
    for _, names in READ_ONLY_FUNCTIONS.values():
        for name in names:
            assert refusal(f"SELECT `{name}`(1)") is None, name
            if name.isidentifier():
                assert refusal(f"SELECT {name.upper()}(1)") is None, name
    for _, names in REFUSED_FUNCTIONS.values():
        for name in names:
            assert f"{name!r} is refused" in refusal(f"SELECT {name}(1)"), name
            assert f"{name!r} is refused" in refusal(f"SELECT * FROM vocab WHERE x = `{name}`()"), name
