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
from .embeddings import EMBEDDINGS, Embeddings

_MODELS: dict[str, Embeddings] = {}


def _model(model_dir: str) -> Embeddings:
    """The model at ``model_dir``, loaded once per process."""
    emb = _MODELS.get(model_dir)
    if emb is None:
        emb = _MODELS[model_dir] = Embeddings.load(model_dir)
    return emb


def cosine(a, b) -> float | None:
    """Cosine similarity of two equal-length vectors; None when undefined."""
    if a is None or b is None or len(a) == 0 or len(a) != len(b):
        return None
    x, y = np.asarray(a, np.float64), np.asarray(b, np.float64)
    norm = np.linalg.norm(x) * np.linalg.norm(y)
    return float(x @ y / norm) if norm > 0 else None


def register(spark, model_dir: str) -> None:
    """Register the views and functions of the model at ``model_dir`` in ``spark``.

    Raises:
        IncompleteModelError: the directory is missing or has no ``_SUCCESS`` marker.
    """
    from pyspark.sql.functions import udtf
    from pyspark.sql.types import ArrayType, DoubleType, FloatType

    storage.require_complete(model_dir)
    table = spark.read.parquet(storage.child(model_dir, EMBEDDINGS))
    table.createOrReplaceTempView("embeddings")
    table.select("word", "id", "count").createOrReplaceTempView("vocab")

    def vector(word):
        emb = _model(model_dir)
        i = emb.index.get(word) if word is not None else None
        return None if i is None else emb.vectors[i].tolist()

    spark.udf.register("w2v_cosine", cosine, DoubleType())
    spark.udf.register("w2v_vector", vector, ArrayType(FloatType()))

    @udtf(returnType="word: string, similarity: double", useArrow=False)
    class Neighbors:
        def eval(self, word: str, k: int):
            emb = _model(model_dir)
            if word is None or word not in emb.index or k is None or k <= 0:
                return
            for w, s in emb.most_similar(word, int(k)):
                yield w, s

    @udtf(returnType="word: string, similarity: double", useArrow=False)
    class Analogy:
        def eval(self, a: str, b: str, c: str, k: int):
            emb = _model(model_dir)
            if any(w is None or w not in emb.index for w in (a, b, c)) or k is None or k <= 0:
                return
            for w, s in emb.analogy(a, b, c, int(k)):
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


__all__ = ["register", "cosine", "similar_pairs"]
