"""sparkw2v.ml.Word2Vec in a Spark ML Pipeline, as a drop-in for pyspark.ml.feature.Word2Vec,
and the MLlib layout written beside every model."""

import numpy as np
import pytest
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.feature import Tokenizer, Word2VecModel

from sparkw2v.embeddings import Embeddings
from sparkw2v.errors import ConfigError
from sparkw2v.ml import Word2Vec
from tests.spark.test_training import planted_corpus

pytestmark = pytest.mark.spark


def test_pipeline_fit_transform_and_save(spark, tmp_path):
    rows = planted_corpus(np.random.default_rng(2), 600)
    df = spark.createDataFrame([(r,) for r in rows], "text string")
    w2v = Word2Vec(inputCol="words", outputCol="features", vectorSize=12, minCount=1, maxIter=3,
                   windowSize=3, sample=0.0, stepSize=0.05, numPartitions=2, maxSentenceLength=5)
    pipeline = Pipeline(stages=[Tokenizer(inputCol="text", outputCol="words"), w2v])
    model = pipeline.fit(df)
    w2v_model = model.stages[-1]
    assert isinstance(w2v_model, Word2VecModel)
    out = model.transform(df).select("words", "features").first()
    vectors = {r.word: np.array(r.vector) for r in w2v_model.getVectors().collect()}
    np.testing.assert_allclose(out.features.toArray(), np.mean([vectors[w] for w in out.words], axis=0),
                               rtol=1e-5, atol=1e-6)
    synonyms = [r.word for r in w2v_model.findSynonyms("a0", 5).collect()]
    assert sum(w.startswith("a") or w.startswith("ctxa") for w in synonyms) >= 4, synonyms
    model.write().overwrite().save(str(tmp_path / "pipe"))
    again = PipelineModel.load(str(tmp_path / "pipe"))
    assert again.transform(df).count() == df.count()


def test_bad_parameter_is_a_config_error(spark):
    df = spark.createDataFrame([(["a", "b"],)], "words array<string>")
    with pytest.raises(ConfigError, match="'vector_size' has invalid value 0"):
        Word2Vec(inputCol="words", vectorSize=0).fit(df)


def test_mllib_layout_beside_tables_agrees_with_ours(spark, tmp_path):
    from sparkw2v.embeddings import write_model

    rng = np.random.default_rng(4)
    words = tuple(f"w{i}" for i in range(30))
    W = rng.normal(size=(30, 8)).astype(np.float32)
    write_model(str(tmp_path / "m"), words, np.arange(30, 0, -1), W, W * 0, {})
    mllib = Word2VecModel.load(str(tmp_path / "m" / "mllib"))
    ours = Embeddings.load(str(tmp_path / "m"))
    got = [(r.word, r.similarity) for r in mllib.findSynonyms("w3", 10).collect()]
    want = ours.most_similar("w3", 10)
    assert [w for w, _ in got] == [w for w, _ in want]
    np.testing.assert_allclose([s for _, s in got], [s for _, s in want], rtol=1e-5)


@pytest.mark.parametrize("kwargs, column, message", [
    ({"maxSentenceLength": 0}, "words", "maxSentenceLength=0 is invalid"),
    ({}, "text", "inputCol 'text' has type string; Word2Vec takes array<string>"),
    ({}, "nope", "inputCol 'nope' is not a column"),
])
def test_bad_estimator_input_is_a_config_error(spark, kwargs, column, message):
    df = spark.createDataFrame([("a b", ["a", "b"])], "text string, words array<string>")
    with pytest.raises(ConfigError, match=message):
        Word2Vec(inputCol=column, **kwargs).fit(df)


def test_a_token_holding_nul_is_trained_like_another_word(spark):
    """The estimator encodes through the same path as jobs/train.py: a token with NUL in it is
    one word with its own vector, and its pieces are not words."""
    rows = [["the", "c\x00t", "sat", "on", "the", "mat"], ["a", "c\x00t", "ran", "to", "a", "log"]] * 30
    df = spark.createDataFrame([(r,) for r in rows], "words array<string>")
    model = Word2Vec(inputCol="words", vectorSize=8, minCount=1, maxIter=2, sample=0.0, seed=3).fit(df)
    vectors = {r.word: np.array(r.vector) for r in model.getVectors().collect()}
    assert "c\x00t" in vectors and "c" not in vectors and "t" not in vectors
    start = Word2Vec(inputCol="words", vectorSize=8, minCount=1, maxIter=1, sample=0.0, seed=3, stepSize=1e-9).fit(df)
    before = {r.word: np.array(r.vector) for r in start.getVectors().collect()}
    assert np.abs(vectors["c\x00t"] - before["c\x00t"]).max() > 1e-4  # trained, not left at its start
