"""Spark SQL over a model directory: every function against the numpy reference, and
hostile words passed as parameters."""

import json
from pathlib import Path

import numpy as np
import pytest

from sparkw2v.embeddings import Embeddings, write_model
from sparkw2v.sql import QueryRefused, check_reads, register

pytestmark = pytest.mark.spark

HOSTILE = ["it's", "a;b", "x'; DROP TABLE embeddings; --", "naïve", "", "日本"]


@pytest.fixture(scope="module")
def model(spark, tmp_path_factory):
    rng = np.random.default_rng(3)
    words = ("king", "queen", "man", "woman", "ship", "boat", "sea", "it's", "naïve", "a;b")
    emb = Embeddings(words, np.arange(len(words), 0, -1).astype(np.int64),
                     rng.normal(size=(len(words), 6)).astype(np.float32))
    path = str(tmp_path_factory.mktemp("sql") / "model")
    write_model(path, emb.words, emb.counts, emb.vectors, emb.vectors, {})
    register(spark, path)
    return emb


def test_views(spark, model):
    rows = spark.sql("SELECT word, count FROM vocab ORDER BY id").collect()
    assert [r.word for r in rows] == list(model.words)
    assert spark.sql("SELECT count(*) AS n FROM embeddings WHERE size(vector) = 6").first().n == len(model.words)


def test_vector_and_cosine_match_numpy(spark, model):
    row = spark.sql("SELECT w2v_vector(:w) AS v, w2v_cosine(w2v_vector(:a), w2v_vector(:b)) AS c",
                    args={"w": "ship", "a": "king", "b": "queen"}).first()
    np.testing.assert_allclose(row.v, model.vector("ship"), rtol=1e-6)
    assert row.c == pytest.approx(model.similarity("king", "queen"), rel=1e-5)
    assert spark.sql("SELECT w2v_vector(:w) AS v", args={"w": "zzz"}).first().v is None


def test_neighbors_and_analogy_match_numpy(spark, model):
    got = spark.sql("SELECT * FROM w2v_neighbors(:w, 4)", args={"w": "king"}).collect()
    want = model.most_similar("king", 4)
    assert [r.word for r in got] == [w for w, _ in want]
    np.testing.assert_allclose([r.similarity for r in got], [s for _, s in want], rtol=1e-5)
    got = spark.sql("SELECT * FROM w2v_analogy(:a, :b, :c, 3)",
                    args={"a": "man", "b": "king", "c": "woman"}).collect()
    assert [r.word for r in got] == [w for w, _ in model.analogy("man", "king", "woman", 3)]


def test_table_function_in_a_join(spark, model):
    rows = spark.sql("SELECT n.word, v.count FROM w2v_neighbors(:w, 3) n JOIN vocab v ON n.word = v.word",
                     args={"w": "sea"}).collect()
    assert sorted(r.word for r in rows) == sorted(w for w, _ in model.most_similar("sea", 3))


@pytest.mark.parametrize("word", HOSTILE)
def test_hostile_words_are_just_words(spark, model, word):
    rows = spark.sql("SELECT * FROM w2v_neighbors(:w, 3)", args={"w": word}).collect()
    if word in model.index:
        assert [r.word for r in rows] == [w for w, _ in model.most_similar(word, 3)]
    else:
        assert rows == []
    assert spark.sql("SELECT count(*) AS n FROM vocab").first().n == len(model.words)


def test_lsh_similar_pairs_are_true_and_recall_most(spark, tmp_path):
    from sparkw2v.sql import similar_pairs

    rng = np.random.default_rng(5)
    centers = rng.normal(size=(6, 8))
    vecs = np.concatenate([c + 0.15 * rng.normal(size=(5, 8)) for c in centers]).astype(np.float32)
    words = tuple(f"w{i:02d}" for i in range(len(vecs)))
    path = str(tmp_path / "lsh")
    write_model(path, words, np.arange(len(words), 0, -1), vecs, vecs, {})
    emb = Embeddings.load(path)
    unit = emb.unit()
    sims = unit @ unit.T
    exact = {(words[i], words[j]) for i in range(len(words)) for j in range(i + 1, len(words)) if sims[i, j] >= 0.8}
    got = {(r.word1, r.word2): r.similarity for r in
           similar_pairs(spark, path, 0.8, num_hash_tables=8, bucket_length=1.0).collect()}
    assert set(got) <= exact
    for (a, b), s in got.items():
        assert s == pytest.approx(float(sims[emb.index[a], emb.index[b]]), abs=1e-5)
    assert len(got) >= 0.8 * len(exact) and len(exact) > 20


# --- jobs/query.py: read-only by default, one error line, typed parameters -------------------

def query(capsys, model_dir, *argv):
    from tests.jobs_util import load_job

    capsys.readouterr()
    code = load_job("query").main(["--model", model_dir, *argv])
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if line.startswith("query: error:")]
    assert len(errors) <= 1, captured.err
    return code, (errors[0] if errors else None), captured.out


@pytest.fixture(scope="module")
def model_dir(model, tmp_path_factory):
    path = str(tmp_path_factory.mktemp("q") / "model")
    write_model(path, model.words, model.counts, model.vectors, model.vectors, {"run": 1})
    return path


@pytest.mark.parametrize("sql, refused", [
    ("SELECT * FROM text.`/etc/passwd`", "'text.`/etc/passwd`' names a file or table by a quoted path"),
    ("INSERT OVERWRITE DIRECTORY '/tmp/x' USING parquet SELECT * FROM vocab", "does not start a read-only query"),
    ("CREATE TABLE t USING parquet LOCATION '/tmp/t' AS SELECT * FROM vocab", "does not start a read-only query"),
    ("WITH v AS (SELECT * FROM vocab) INSERT OVERWRITE DIRECTORY '/tmp/x' SELECT * FROM v", "INSERT writes"),
    ("SELECT word FROM vocab WHERE word IN (SELECT value FROM text.`/etc/passwd`)", "by a quoted path"),
    ("WITH x AS (SELECT * FROM csv.`/etc/hosts`) SELECT * FROM x", "by a quoted path"),
    ("SET spark.sql.runSQLOnFiles=true", "does not start a read-only query"),
    ("SELECT * FROM read_files('/etc')", "function 'read_files' is refused"),
    ("SELECT '${env:HOME}' AS home", "variable substitution"),
    ("SELECT TRANSFORM(word) USING 'id' AS (out) FROM vocab", "USING 'script' runs a program"),
])
def test_query_refuses_anything_but_reading_the_model(spark, capsys, model_dir, tmp_path, sql, refused):
    code, line, out = query(capsys, model_dir, "--sql", sql)
    assert code == 2 and refused in line and "--allow-all-sql" in line, line
    assert out == "" and not (tmp_path / "x").exists()


def test_query_reads_no_file_outside_the_model(spark, capsys, model_dir, tmp_path, monkeypatch):
    """What the text cannot tell from a column (``text.secret``: a file by path, or a table) is
    stopped by Spark (spark.sql.runSQLOnFiles=false) and by the files the analysed query reads."""
    secret = tmp_path / "secret"
    secret.write_text("the secret\n")
    monkeypatch.chdir(tmp_path)  # text.secret would be ./secret
    code, line, out = query(capsys, model_dir, "--sql", "SELECT * FROM text.secret")
    assert code == 2 and ("TABLE_OR_VIEW_NOT_FOUND" in line or "'text.secret' is not one of the views" in line), line
    spark.read.text(str(secret)).createOrReplaceTempView("secrets")  # a view over a file, in this session
    try:
        code, line, out = query(capsys, model_dir, "--sql", "SELECT * FROM secrets")
        assert code == 2 and ("outside the model" in line or "'secrets' is not one of the views" in line), line
        assert "the secret" not in out + line
        # the files check on its own (classic Spark refuses the name first, on the parsed plan)
        model_files = set(spark.table("embeddings").inputFiles())
        assert model_files and all("/embeddings/" in f for f in model_files)
        check_reads(spark.sql("SELECT n.*, v.count FROM w2v_neighbors('king', 2) n JOIN vocab v USING (word)"),
                    model_files)
        with pytest.raises(QueryRefused, match=r"reads 'file:.*/secret', outside the model"):
            check_reads(spark.sql("SELECT v.word FROM vocab v JOIN secrets s ON v.word = s.value"), model_files)
    finally:
        spark.catalog.dropTempView("secrets")


def test_query_reads_the_model_with_typed_parameters(spark, capsys, model_dir, model):
    sql = ("WITH n AS (SELECT * FROM w2v_neighbors(:w, :k)) "
           "SELECT n.word, v.count FROM n JOIN vocab v USING (word) ORDER BY n.similarity DESC")
    code, line, out = query(capsys, model_dir, "--sql", sql, "--param", "w=king", "--param", "k:int=3")
    assert code == 0, line
    rows = [json.loads(x) for x in out.splitlines()][0]["rows"]
    assert [r["word"] for r in rows] == [w for w, _ in model.most_similar("king", 3)]
    # an untyped number arrives as a string; the table functions read it as the count it is
    code, line, out = query(capsys, model_dir, "--sql", sql, "--param", "w=king", "--param", "k=3")
    assert code == 0, line
    assert [json.loads(x) for x in out.splitlines()][0]["rows"] == rows


@pytest.mark.parametrize("argv, message", [
    (["--sql", "SELECT * FROM w2v_neighbors(:w, 3)"], "UNBOUND_SQL_PARAMETER"),
    (["--sql", "SELECT 1 +"], "PARSE_SYNTAX_ERROR"),
    (["--sql", "SELEC 1"], "'SELEC' does not start a read-only query"),
    (["--sql", "SELECT nope FROM vocab"], "UNRESOLVED_COLUMN"),
    (["--sql", "SELECT 1", "--param", "k:int=three"], "'three' is not a int"),
    (["--sql", "SELECT 1", "--param", "k"], "takes NAME=VALUE"),
    (["--sql", "SELECT 1", "--param", "k:long=3"], "type 'long' is not one of str, int, float, bool"),
])
def test_query_errors_are_one_line(spark, capsys, model_dir, argv, message):
    code, line, _ = query(capsys, model_dir, *argv)
    assert code == 2 and message in line, line


def test_a_replaced_model_is_not_answered_from_the_old_one(spark, tmp_path):
    """The functions run in long-lived Python workers that keep the model they loaded; a model
    written to the same path since is another model and is loaded afresh."""
    path = str(tmp_path / "m")
    rng = np.random.default_rng(5)
    old = Embeddings(("a", "b", "c"), np.array([3, 2, 1]), rng.normal(size=(3, 4)).astype(np.float32))
    write_model(path, old.words, old.counts, old.vectors, old.vectors, {"run": "old"})
    register(spark, path)
    assert spark.sql("SELECT word FROM w2v_neighbors('a', 5)").count() == 2
    new = Embeddings(("a", "b", "c", "d"), np.array([4, 3, 2, 1]), rng.normal(size=(4, 4)).astype(np.float32))
    write_model(path, new.words, new.counts, new.vectors, new.vectors, {"run": "new"}, overwrite=True)
    register(spark, path)
    assert spark.sql("SELECT word FROM w2v_neighbors('a', 5)").count() == 3
    assert spark.sql("SELECT count(*) AS n FROM vocab").first().n == 4


def test_a_replaced_parquet_part_is_not_answered_from_the_old_model(spark, tmp_path):
    """The functions' cache is keyed by the files they read: a part replaced under the same
    metadata.json is another model, loaded afresh by the long-lived Python workers."""
    path = str(tmp_path / "m")
    words = ("a", "b", "c", "d", "e")
    old = rng_vectors(11, len(words))
    write_model(path, words, np.arange(5, 0, -1), old, old, {"config": {"vector_size": 4}})
    metadata = (Path(path) / "metadata.json").read_bytes()
    register(spark, path)
    query = "SELECT word FROM w2v_neighbors('a', 4)"
    for _ in range(3):  # every Python worker of the session has the old model in its cache
        assert [r.word for r in spark.sql(query).collect()] == [w for w, _ in Embeddings.load(path).most_similar("a", 4)]
    want_old = [w for w, _ in Embeddings.load(path).most_similar("a", 4)]
    new = old.copy()
    new[[1, 2, 3, 4]] = old[[4, 3, 2, 1]]  # same words, ids and metadata; other neighbours of "a"

    def replace(table):
        import pyarrow as pa

        return table.set_column(3, "vector", pa.array(list(new), table.schema.field("vector").type))

    _rewrite_embeddings(path, replace)
    assert (Path(path) / "metadata.json").read_bytes() == metadata
    want_new = [w for w, _ in Embeddings.load(path).most_similar("a", 4)]
    assert want_new != want_old
    register(spark, path)
    for _ in range(3):
        assert [r.word for r in spark.sql(query).collect()] == want_new


def test_model_identity_follows_the_parquet_parts_not_only_metadata(tmp_path):
    import os

    from sparkw2v.sql import model_identity

    path = tmp_path / "m"
    vectors = rng_vectors(12, 3)
    write_model(str(path), ("x", "y", "z"), np.array([3, 2, 1]), vectors, vectors, {})
    first = model_identity(str(path))
    assert model_identity(str(path)) == first
    part = sorted((path / "embeddings").glob("*.parquet"))[0]
    stat = part.stat()
    _rewrite_embeddings(str(path), lambda t: t.set_column(3, "vector", t.column("vector").cast(
        t.schema.field("vector").type)).take([0, 1, 2]).set_column(1, "id", t.column("id").take([0, 2, 1])))
    os.utime(part, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same name and time: the content still counts
    assert model_identity(str(path)) != first


def rng_vectors(seed, n, width=4):
    return np.random.default_rng(seed).normal(size=(n, width)).astype(np.float32)


# --- damaged or hand-edited model directories: one line from every job, never a wrong load ----

def _rewrite_embeddings(path, change):
    """Replace the embeddings/ table of the model at ``path`` by ``change(table)``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    parts = sorted((Path(path) / "embeddings").glob("*.parquet"))
    table = pa.concat_tables(pq.read_table(p) for p in parts)
    for p in parts:
        p.unlink()
    pq.write_table(change(table), Path(path) / "embeddings" / "part-00000.parquet")


def _short_vector(table):
    import pyarrow as pa

    rows = table.to_pylist()
    rows[2]["vector"] = rows[2]["vector"][:-1]
    return pa.Table.from_pylist(rows, schema=table.schema)


def _null_vector(table):
    import pyarrow as pa

    schema = table.schema.set(table.schema.get_field_index("vector"), table.schema.field("vector").with_nullable(True))
    rows = table.to_pylist()
    rows[1]["vector"] = None
    return pa.Table.from_pylist(rows, schema=schema)


def _repeated_id(table):
    import pyarrow as pa

    rows = table.to_pylist()
    rows[3]["id"] = rows[4]["id"]
    return pa.Table.from_pylist(rows, schema=table.schema)


def _non_finite(value):
    def change(table):
        import pyarrow as pa

        rows = table.to_pylist()
        rows[4]["vector"][1] = value
        return pa.Table.from_pylist(rows, schema=table.schema)
    return change


def _double_vectors(table):
    import pyarrow as pa

    return table.set_column(3, "vector", table.column("vector").cast(pa.list_(pa.float64())))


def _damage(path, how):
    import shutil

    if how == "short vector":
        _rewrite_embeddings(path, _short_vector)
    elif how == "NaN component":
        _rewrite_embeddings(path, _non_finite(float("nan")))
    elif how == "infinite component":
        _rewrite_embeddings(path, _non_finite(float("-inf")))
    elif how == "vector_size differs":
        (Path(path) / "metadata.json").write_text(json.dumps({"config": {"vector_size": 8}}))
    elif how == "metadata not JSON":
        (Path(path) / "metadata.json").write_text("{ not json")
    elif how == "double vectors":
        _rewrite_embeddings(path, _double_vectors)
    elif how == "null vector":
        _rewrite_embeddings(path, _null_vector)
    elif how == "repeated id":
        _rewrite_embeddings(path, _repeated_id)
    elif how == "no embeddings/":
        shutil.rmtree(Path(path) / "embeddings")
    elif how == "stray file":
        (Path(path) / "embeddings" / "notes.txt").write_text("my notes\n")


@pytest.mark.parametrize("how, message", [
    ("short vector", ["components", "damaged"]),
    ("null vector", ["null word, id or vector", "damaged"]),
    ("repeated id", ["damaged"]),
    ("no embeddings/", ["has no embeddings/ table", "damaged"]),
    ("stray file", ["notes.txt is not a Parquet file", "remove it"]),
    ("NaN component", ["word id 4 holds a NaN or infinite component", "damaged", "train it again"]),
    ("infinite component", ["word id 4 holds a NaN or infinite component", "damaged"]),
    ("vector_size differs", ["has 6 components, not 8", "vector_size", "damaged"]),
    ("metadata not JSON", ["metadata.json cannot be read as JSON", "damaged"]),
    ("double vectors", ["part-00000.parquet has columns", "vector array<float>", "remove it"]),
])
def test_a_damaged_model_is_refused_in_one_line_by_every_job(spark, capsys, model, tmp_path, how, message):
    from tests.jobs_util import load_job

    from sparkw2v.errors import ModelFormatError

    path = str(tmp_path / "m")
    write_model(path, model.words, model.counts, model.vectors, model.vectors,
                {"run": how, "config": {"vector_size": 6}})
    _damage(path, how)
    with pytest.raises(ModelFormatError) as err:
        Embeddings.load(path)
    assert all(m in str(err.value) for m in message), err.value
    for job, argv in (("evaluate", ["--model", path, "--neighbors", "king"]),
                      ("query", ["--model", path, "--sql", "SELECT * FROM w2v_neighbors('king', 3)"])):
        capsys.readouterr()
        code = load_job(job).main(argv)
        captured = capsys.readouterr()
        errors = [line for line in captured.err.splitlines() if line.startswith(f"{job}: error:")]
        assert code == 2 and len(errors) == 1 and captured.out == "", (job, captured)
        assert "Traceback" not in captured.err and ("damaged" in errors[0] or "remove it" in errors[0]), errors


def test_a_prepared_corpus_given_as_a_model_is_refused(spark, capsys, tmp_path):
    from tests.jobs_util import load_job

    raw = tmp_path / "raw.txt"
    raw.write_text("the cat sat on the mat\n" * 50)
    corpus = tmp_path / "corpus"
    assert load_job("prepare").main(["--input", str(raw), "--output", str(corpus)]) == 0
    for job, argv in (("evaluate", ["--model", str(corpus), "--neighbors", "cat"]),
                      ("query", ["--model", str(corpus), "--sql", "SELECT * FROM vocab"])):
        capsys.readouterr()
        code = load_job(job).main(argv)
        captured = capsys.readouterr()
        errors = [line for line in captured.err.splitlines() if line.startswith(f"{job}: error:")]
        assert code == 2 and len(errors) == 1 and captured.out == "", (job, captured)
        assert "not a model" in errors[0] or "not a sparkw2v model" in errors[0], errors


def test_allow_all_sql_runs_what_read_only_mode_refuses(spark, capsys, model_dir, tmp_path):
    target = tmp_path / "copy"
    sql = f"INSERT OVERWRITE DIRECTORY '{target}' USING parquet SELECT word FROM vocab"
    code, line, _ = query(capsys, model_dir, "--sql", sql)
    assert code == 2 and "--allow-all-sql" in line and not target.exists()
    code, line, _ = query(capsys, model_dir, "--sql", sql, "--allow-all-sql")
    assert code == 0, line
    assert spark.read.parquet(str(target)).count() == 10
