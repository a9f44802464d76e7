"""Query a model directory with plain Spark SQL.

:func:`register` makes these available in the session:

- views ``embeddings`` (word, id, count, vector) and ``vocab`` (word, id, count);
- ``w2v_cosine(vector1, vector2)``: cosine similarity of two array<float> vectors (NULL if
  either is NULL, empty, of different length, or all zeros);
- ``w2v_vector(word)``: the word's vector, NULL when it is not in the vocabulary;
- table functions ``w2v_neighbors(word, k)`` and ``w2v_analogy(a, b, c, k)`` returning rows
  (word string, similarity double), best first. A word outside the vocabulary gives an empty
  result. They score with one matrix-vector product over unit vectors and a partial sort,
  never a join of the vocabulary with itself.

User words belong in named parameters (``spark.sql(sql, args={"w": word})``) or function
arguments, never pasted into SQL text. The functions run in the executors and read the
model with pyarrow from ``model_dir`` (any fsspec URL they can reach), once per Python worker.
"""

from __future__ import annotations

import numpy as np

from . import storage
from .embeddings import EMBEDDINGS, Embeddings, validate_model_dir

_MODELS: dict[tuple[str, str], Embeddings] = {}


def _model(model_dir: str, identity: str) -> Embeddings:
    """The model at ``model_dir`` as it was registered (``identity``), loaded once per process;
    a model written there since is another identity, hence loaded afresh."""
    key = (model_dir, identity)
    emb = _MODELS.get(key)
    if emb is None:
        for old in [k for k in _MODELS if k[0] == model_dir]:
            del _MODELS[old]  # the model at this path was replaced
        emb = _MODELS[key] = Embeddings.load(model_dir)
    return emb


def model_identity(model_dir: str) -> str:
    """A digest of the model's metadata.json: every training run writes a different one."""
    import hashlib

    fs, path = storage.url_to_fs(model_dir)
    with fs.open(storage.join(fs, path, "metadata.json"), "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def cosine(a, b) -> float | None:
    """Cosine similarity of two equal-length vectors; None when undefined."""
    if a is None or b is None or len(a) == 0 or len(a) != len(b):
        return None
    x, y = np.asarray(a, np.float64), np.asarray(b, np.float64)
    norm = np.linalg.norm(x) * np.linalg.norm(y)
    return float(x @ y / norm) if norm > 0 else None


def check_rows(table, model_dir: str) -> None:
    """Refuse an embeddings table whose rows a reader would load wrong (one Spark scan).

    Raises:
        ModelFormatError: a null word, id or vector; vectors of different lengths; ids
            missing, repeated or outside 0..V-1. The message names the model and the problem.
    """
    from pyspark.sql import functions as F

    from .errors import ModelFormatError

    null = F.col("word").isNull() | F.col("id").isNull() | F.col("vector").isNull()
    s = table.agg(F.count(F.lit(1)).alias("n"), F.count(F.when(null, 1)).alias("nulls"),
                  F.min(F.size("vector")).alias("shortest"), F.max(F.size("vector")).alias("longest"),
                  F.min("id").alias("lo"), F.max("id").alias("hi"), F.countDistinct("id").alias("ids")).first()
    if s.nulls:
        raise ModelFormatError(f"model {model_dir!r}: {s.nulls} row(s) of embeddings/ hold a null word, id or "
                               "vector: the model is damaged; train it again")
    if s.n and s.shortest != s.longest:
        raise ModelFormatError(f"model {model_dir!r}: embeddings/ holds vectors of {s.shortest} to {s.longest} "
                               "components: the model is damaged; train it again")
    if s.n and (s.lo != 0 or s.hi != s.n - 1 or s.ids != s.n):
        raise ModelFormatError(f"model {model_dir!r}: the {s.n} rows of embeddings/ have {s.ids} distinct ids in "
                               f"{s.lo}..{s.hi}, not the ids 0..{s.n - 1} once each: the model is damaged; train it again")


def count_argument(k) -> int:
    """The ``k`` of a table function: an integer, or a string of one (``jobs/query.py --param k=3``
    binds a string); 0 when missing.

    Raises:
        ValueError: anything else (the query fails with a message naming the value).
    """
    if k is None:
        return 0
    if isinstance(k, str):
        try:
            return int(k.strip())
        except ValueError:
            raise ValueError(f"k must be a whole number of neighbours, not {k!r}") from None
    if isinstance(k, float) and not k.is_integer():
        raise ValueError(f"k must be a whole number of neighbours, not {k!r}")
    return int(k)


def register(spark, model_dir: str) -> None:
    """Register the views and functions of the model at ``model_dir`` in ``spark``.

    The rows are checked by one Spark scan before anything is registered (the functions load
    the model in Python workers, where a damaged row would surface as a task failure).

    Raises:
        IncompleteModelError: the directory is missing or has no ``_SUCCESS`` marker.
        ModelFormatError: it is not a model, a file of it is not a Parquet table of the
            model's schema, or its rows are damaged (a null word, id or vector, vectors of
            different lengths, ids missing, repeated or outside 0..V-1).
    """
    from pyspark.sql.functions import udtf
    from pyspark.sql.types import ArrayType, DoubleType, FloatType

    validate_model_dir(model_dir)
    identity = model_identity(model_dir)
    table = spark.read.parquet(storage.child(model_dir, EMBEDDINGS))
    check_rows(table, model_dir)
    table.createOrReplaceTempView("embeddings")
    table.select("word", "id", "count").createOrReplaceTempView("vocab")

    def vector(word):
        emb = _model(model_dir, identity)
        i = emb.index.get(word) if word is not None else None
        return None if i is None else emb.vectors[i].tolist()

    spark.udf.register("w2v_cosine", cosine, DoubleType())
    spark.udf.register("w2v_vector", vector, ArrayType(FloatType()))

    @udtf(returnType="word: string, similarity: double", useArrow=False)
    class Neighbors:
        def eval(self, word: str, k: int):
            emb = _model(model_dir, identity)
            k = count_argument(k)
            if word is None or word not in emb.index or k <= 0:
                return
            for w, s in emb.most_similar(word, k):
                yield w, s

    @udtf(returnType="word: string, similarity: double", useArrow=False)
    class Analogy:
        def eval(self, a: str, b: str, c: str, k: int):
            emb = _model(model_dir, identity)
            k = count_argument(k)
            if any(w is None or w not in emb.index for w in (a, b, c)) or k <= 0:
                return
            for w, s in emb.analogy(a, b, c, k):
                yield w, s

    spark.udtf.register("w2v_neighbors", Neighbors)
    spark.udtf.register("w2v_analogy", Analogy)


def similar_pairs(spark, model_dir: str, min_similarity: float = 0.7, num_hash_tables: int = 4,
                  bucket_length: float = 0.5, seed: int = 1):
    """Approximate all-pairs similarity over the vocabulary with MLlib's LSH.

    Unit vectors go through ``BucketedRandomProjectionLSH`` and ``approxSimilarityJoin``; on
    unit vectors Euclidean distance d and cosine similarity relate as cos = 1 - d**2 / 2, so
    the join threshold is d = sqrt(2 - 2 min_similarity). Approximate: a pair above the
    threshold can be missed (more hash tables miss fewer), never one below it returned.

    Returns:
        DataFrame (word1 string, word2 string, similarity double), each pair once (word1 < word2).
    """
    from pyspark.ml.feature import BucketedRandomProjectionLSH
    from pyspark.ml.functions import array_to_vector
    from pyspark.sql import functions as F

    if not -1.0 <= min_similarity <= 1.0:
        raise ValueError(f"min_similarity must be in [-1, 1], got {min_similarity}")
    storage.require_complete(model_dir)
    table = spark.read.parquet(storage.child(model_dir, EMBEDDINGS))
    norm = F.sqrt(F.aggregate("vector", F.lit(0.0), lambda acc, x: acc + x * x))
    unit = (table.where(norm > 0)
            .select("word", array_to_vector(F.transform("vector", lambda x: x / norm)).alias("unit")))
    lsh = BucketedRandomProjectionLSH(inputCol="unit", outputCol="hashes", bucketLength=bucket_length,
                                      numHashTables=num_hash_tables, seed=seed).fit(unit)
    threshold = float(np.sqrt(max(0.0, 2.0 - 2.0 * min_similarity)))
    pairs = lsh.approxSimilarityJoin(unit, unit, threshold, distCol="distance")
    return (pairs.where(F.col("datasetA.word") < F.col("datasetB.word"))
            .select(F.col("datasetA.word").alias("word1"), F.col("datasetB.word").alias("word2"),
                    (1.0 - F.col("distance") ** 2 / 2.0).alias("similarity")))




# The logical plan nodes a read-only query may contain (as Spark's parser names them).
_READ_ONLY_NODES = frozenset({
    "Project", "Filter", "Aggregate", "Sort", "GlobalLimit", "LocalLimit", "Offset", "Tail", "Distinct",
    "Deduplicate", "Union", "Intersect", "Except", "Join", "LateralJoin", "SubqueryAlias", "UnresolvedRelation",
    "UnresolvedTableValuedFunction", "UnresolvedWith", "OneRowRelation", "UnresolvedInlineTable", "Window",
    "WithWindowDefinition", "Generate", "UnresolvedHaving", "Sample", "Range", "Pivot", "Unpivot",
    "UnresolvedSubqueryColumnAliases", "LocalRelation", "CTERelationRef", "Expand", "UnresolvedTVFAliases",
})
VIEWS = ("embeddings", "vocab")
TABLE_FUNCTIONS = ("w2v_neighbors", "w2v_analogy", "range", "explode", "explode_outer", "inline",
                   "inline_outer", "posexplode", "posexplode_outer", "stack")


class QueryRefused(ValueError):
    """A query that the read-only mode does not run."""


def check_read_only(spark, sql: str) -> None:
    """Refuse anything but one query that reads the registered views and table functions.

    The SQL is parsed, not run, and its logical plan is walked (subqueries in expressions and
    WITH clauses included): every node must be a query operator (no command: INSERT, CREATE,
    SET, CACHE, ADD JAR, ...), every table one of the views ``embeddings``, ``vocab`` or a WITH
    name of the query, every table function a w2v function or a generator. Reading files by path
    (``text.`/etc/passwd```) is a table name outside that list, and the session is also told not
    to run SQL on files.

    Raises:
        QueryRefused: naming what is not allowed.
        Exception: Spark's parse error for SQL that does not parse.
    """
    spark.conf.set("spark.sql.runSQLOnFiles", "false")
    plan = spark._jsparkSession.sessionState().sqlParser().parsePlan(sql)
    _check_plan(plan, set())


def _seq(scala_seq) -> list:
    return [scala_seq.apply(i) for i in range(scala_seq.size())]


def _name(parts) -> str:
    return ".".join(str(p) for p in _seq(parts))


def _check_plan(node, ctes: set) -> None:
    name = node.nodeName()
    if name not in _READ_ONLY_NODES:
        raise QueryRefused(f"{name} is not a read-only query operation")
    if name == "UnresolvedWith":
        for pair in _seq(node.cteRelations()):
            _check_plan(pair._2(), ctes)
            ctes = ctes | {str(pair._1()).lower()}
    if name == "UnresolvedRelation":
        table = _name(node.multipartIdentifier())
        if table.lower() not in VIEWS and table.lower() not in ctes:
            raise QueryRefused(f"table {table!r} is not one of the views {', '.join(VIEWS)}")
    if name == "UnresolvedTableValuedFunction":
        function = _name(node.name())
        if function.lower() not in TABLE_FUNCTIONS:
            raise QueryRefused(f"table function {function!r} is not one of {', '.join(TABLE_FUNCTIONS)}")
    for expression in _seq(node.expressions()):
        _check_expression(expression, ctes)
    for child in _seq(node.children()):
        _check_plan(child, ctes)


def _check_expression(expression, ctes: set) -> None:
    try:
        subquery = expression.plan()  # ScalarSubquery, Exists, ListQuery, ...
    except Exception:
        subquery = None
    if subquery is not None:
        _check_plan(subquery, ctes)
    for child in _seq(expression.children()):
        _check_expression(child, ctes)


__all__ = ["register", "cosine", "similar_pairs", "check_read_only", "QueryRefused", "model_identity"]
