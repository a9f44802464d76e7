"""sparkw2v.ml.Word2Vec in a Spark ML Pipeline, as a drop-in for pyspark.ml.feature.Word2Vec:
its getters and setters, saving and loading it (alone, in a Pipeline, in a CrossValidator),
its progress on stderr, and the MLlib layout written beside every model."""

import logging

import numpy as np
import pytest
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml import feature as mllib
from pyspark.ml.evaluation import ClusteringEvaluator
from pyspark.ml.feature import Tokenizer, Word2VecModel
from pyspark.ml.tuning import CrossValidator, CrossValidatorModel, ParamGridBuilder

from sparkw2v.embeddings import Embeddings
from sparkw2v.errors import ConfigError
from sparkw2v.ml import Word2Vec, progress_to_stderr
from tests.spark.test_training import planted_corpus

pytestmark = pytest.mark.spark

OWN = {"negative": 7, "sample": 1e-3, "minAlpha": 0.002, "cyclesPerEpoch": 3, "tempDir": "/tmp/sw2v-blocks",
       "outputDir": "/tmp/sw2v-models", "initFrom": "/tmp/sw2v-earlier-model"}


def params_by_name(stage):
    return {p.name: v for p, v in stage.extractParamMap().items()}


def sorted_rows(df, key, cols):
    return [tuple(r) for r in df.select(key, *cols).orderBy(key).collect()]


def test_every_mllib_getter_and_setter_and_mllib_defaults(spark):
    """Every get*/set* of pyspark.ml.feature.Word2Vec exists here and round-trips a value, the
    shared parameters default as MLlib's, and sparkw2v's own parameters have both too."""
    theirs = mllib.Word2Vec()
    ours = Word2Vec()
    names = sorted(n for n in dir(mllib.Word2Vec) if n[:3] in ("get", "set") and n[3:4].isupper())
    assert {"getVectorSize", "getMinCount", "getWindowSize", "getNumPartitions", "getMaxSentenceLength",
            "setMaxSentenceLength", "getStepSize", "getMaxIter", "getSeed"} <= set(names)
    values = {"vectorSize": 17, "minCount": 2, "windowSize": 3, "numPartitions": 4, "maxSentenceLength": 9,
              "stepSize": 0.5, "maxIter": 6, "seed": 11, "inputCol": "in", "outputCol": "out", **OWN}
    for name in names + [f"{v}{k[0].upper()}{k[1:]}" for k in OWN for v in ("get", "set")]:
        assert callable(getattr(ours, name, None)), name
    for key, value in values.items():
        suffix = key[0].upper() + key[1:]
        if f"set{suffix}" in names or key in OWN:
            assert getattr(ours, f"set{suffix}")(value) is ours
        assert getattr(ours, f"get{suffix}")() == value, key
    for param in theirs.params:
        if param.name not in ("seed", "outputCol") and theirs.hasDefault(param):
            assert Word2Vec().getOrDefault(param.name) == theirs.getOrDefault(param.name), param.name
    assert Word2Vec().getTempDir() is None and Word2Vec().getOutputDir() is None


def test_unfitted_estimator_saves_and_loads(spark, tmp_path):
    w2v = Word2Vec(inputCol="words", outputCol="features", vectorSize=12, windowSize=3, maxSentenceLength=5,
                   seed=9, **OWN)
    w2v.save(str(tmp_path / "w2v"))
    w2v.setVectorSize(13).write().overwrite().save(str(tmp_path / "w2v"))
    again = Word2Vec.load(str(tmp_path / "w2v"))
    assert type(again) is Word2Vec and again.uid == w2v.uid
    assert params_by_name(again) == params_by_name(w2v) and again.getVectorSize() == 13
    assert again.getTempDir() == OWN["tempDir"] and not again.isSet(again.minCount)


def topic_frame(spark, n_rows, seed=2):
    """Rows of planted_corpus with their topic (0.0: a-words, 1.0: b-words)."""
    rows = planted_corpus(np.random.default_rng(seed), n_rows)
    return spark.createDataFrame([(i, r, float("b" in r.split()[0])) for i, r in enumerate(rows)],
                                 "id long, text string, topic double")


def test_fit_starts_from_an_earlier_model_with_init_from(spark, tmp_path):
    """initFrom: a warm start (sparkw2v.warmstart) from a model an earlier fit wrote: its words
    stay (the new rows have other words), the new ones join."""
    import json

    base = dict(inputCol="words", vectorSize=8, minCount=1, maxIter=1, windowSize=3, sample=0.0,
                numPartitions=2, cyclesPerEpoch=2, outputDir=str(tmp_path / "models"))
    tok = Tokenizer(inputCol="text", outputCol="words")
    first = Word2Vec(**base).fit(tok.transform(topic_frame(spark, 200)))
    other = spark.createDataFrame([(i, f"a1 a2 new{i % 3} a3 new{(i + 1) % 3}") for i in range(50)], "id long, text string")
    second = Word2Vec(**base, initFrom=first.getModelPath()).fit(tok.transform(other))
    old, new = first.embeddings(), second.embeddings()
    assert set(old.words) < set(new.words) and {"new0", "new1", "new2"} <= set(new.words)
    assert len(new.words) == len(old.words) + 3
    for word in ("b0", "ctxa1"):  # not in the new rows: the earlier vectors, untouched
        np.testing.assert_array_equal(new[word], old[word])
    meta = json.loads(open(second.getModelPath() + "/metadata.json").read())
    assert meta["init_from"]["model"] == first.getModelPath() and meta["init_from"]["new_words"] == 3


def test_pipeline_saves_unfitted_loads_fits_saves_fitted_loads_and_transforms_the_same(spark, tmp_path):
    df = topic_frame(spark, 600)
    w2v = Word2Vec(inputCol="words", outputCol="features", vectorSize=12, minCount=1, maxIter=3,
                   windowSize=3, sample=0.0, stepSize=0.05, numPartitions=2, maxSentenceLength=5)
    pipeline = Pipeline(stages=[Tokenizer(inputCol="text", outputCol="words"), w2v])
    pipeline.write().overwrite().save(str(tmp_path / "unfitted"))
    loaded = Pipeline.load(str(tmp_path / "unfitted"))
    assert [type(s) for s in loaded.getStages()] == [Tokenizer, Word2Vec]
    assert params_by_name(loaded.getStages()[1]) == params_by_name(w2v)

    model = loaded.fit(df)
    w2v_model = model.stages[-1]
    assert isinstance(w2v_model, Word2VecModel) and w2v_model.getVectorSize() == 12
    out = model.transform(df).select("words", "features").first()
    vectors = {r.word: np.array(r.vector) for r in w2v_model.getVectors().collect()}
    np.testing.assert_allclose(out.features.toArray(), np.mean([vectors[w] for w in out.words], axis=0),
                               rtol=1e-5, atol=1e-6)
    synonyms = [r.word for r in w2v_model.findSynonyms("a0", 5).collect()]
    assert sum(w.startswith("a") or w.startswith("ctxa") for w in synonyms) >= 4, synonyms

    model.write().overwrite().save(str(tmp_path / "fitted"))
    again = PipelineModel.load(str(tmp_path / "fitted"))
    want = sorted_rows(model.transform(df), "id", ["features"])
    assert len(want) == 600 and sorted_rows(again.transform(df), "id", ["features"]) == want


def test_cross_validator_over_vector_size_saves_and_loads(spark, tmp_path):
    df = Tokenizer(inputCol="text", outputCol="words").transform(topic_frame(spark, 300))
    w2v = Word2Vec(inputCol="words", outputCol="features", minCount=1, maxIter=1, windowSize=3, sample=0.0,
                   stepSize=0.05, numPartitions=2, cyclesPerEpoch=2)
    grid = ParamGridBuilder().addGrid(w2v.vectorSize, [4, 8]).build()
    evaluator = ClusteringEvaluator(featuresCol="features", predictionCol="topic", distanceMeasure="cosine")
    cv = CrossValidator(estimator=w2v, estimatorParamMaps=grid, evaluator=evaluator, numFolds=2, seed=3)
    cv.write().overwrite().save(str(tmp_path / "cv"))
    loaded = CrossValidator.load(str(tmp_path / "cv"))
    estimator = loaded.getEstimator()
    assert type(estimator) is Word2Vec and params_by_name(estimator) == params_by_name(w2v)
    assert [{p.name: v for p, v in m.items()} for m in loaded.getEstimatorParamMaps()] == \
        [{"vectorSize": 4}, {"vectorSize": 8}]
    assert all(p.parent == estimator.uid for m in loaded.getEstimatorParamMaps() for p in m)
    assert loaded.getEvaluator().getPredictionCol() == "topic" and loaded.getNumFolds() == 2

    cv_model = loaded.fit(df)
    assert len(cv_model.avgMetrics) == 2 and all(-1 <= m <= 1 for m in cv_model.avgMetrics)
    cv_model.write().overwrite().save(str(tmp_path / "cv_model"))
    again = CrossValidatorModel.load(str(tmp_path / "cv_model"))
    assert again.avgMetrics == pytest.approx(cv_model.avgMetrics)
    best = int(np.argmax(cv_model.avgMetrics))
    assert again.bestModel.getVectorSize() == [4, 8][best]
    want = sorted_rows(cv_model.transform(df), "id", ["features"])
    assert sorted_rows(again.transform(df), "id", ["features"]) == want


def test_model_with_vectors_in_a_dataframe_agrees_with_mllib_and_saves_in_a_pipeline(spark, tmp_path, monkeypatch):
    """With outputDir, fit writes a model directory from the executors (the driver never reads W)
    and returns sparkw2v's model: transform (a join), getVectors and findSynonyms give what
    MLlib's model of the same vectors (toMLlib) gives, and it saves and loads in a Pipeline."""
    from sparkw2v.ml import Word2VecModel as OwnModel
    from sparkw2v.trainer import TrainResult

    def no_driver_copy(self):
        raise AssertionError("fit read W into the driver")

    monkeypatch.setattr(TrainResult, "W", property(no_driver_copy))
    df = topic_frame(spark, 300).unionByName(spark.createDataFrame(
        [(1000, "", 0.0), (1001, "zzz a0 qqq", 0.0)], "id long, text string, topic double"))
    w2v = Word2Vec(inputCol="words", outputCol="features", vectorSize=8, minCount=1, maxIter=2, windowSize=3,
                   sample=0.0, stepSize=0.05, numPartitions=2, cyclesPerEpoch=2, outputDir=str(tmp_path / "models"))
    pipeline = Pipeline(stages=[Tokenizer(inputCol="text", outputCol="words"), w2v])
    model = pipeline.fit(df.where("id < 1000"))
    ours = model.stages[-1]
    assert type(ours) is OwnModel and ours.getModelPath().startswith(str(tmp_path / "models"))
    emb = ours.embeddings()
    assert len(emb.words) == 24 and ours.getVectorSize() == 8
    theirs = ours.toMLlib()
    assert isinstance(theirs, Word2VecModel) and theirs.getOutputCol() == "features"

    got = {r.word: r.vector.toArray() for r in ours.getVectors().collect()}
    want = {r.word: r.vector.toArray() for r in theirs.getVectors().collect()}
    assert sorted(got) == sorted(want) == sorted(emb.words)
    for w in want:
        np.testing.assert_allclose(got[w], want[w], rtol=1e-6)

    words = Tokenizer(inputCol="text", outputCol="words").transform(df)
    mine = {r.id: r.features.toArray() for r in ours.transform(words).select("id", "features").collect()}
    mllib_rows = {r.id: r.features.toArray() for r in theirs.transform(words).select("id", "features").collect()}
    assert sorted(mine) == sorted(mllib_rows) and len(mine) == 302
    for i in mllib_rows:
        np.testing.assert_allclose(mine[i], mllib_rows[i], rtol=1e-6, atol=1e-7)
    assert not mine[1000].any() and mine[1001].any()  # empty row: zeros; unknown words count as words
    np.testing.assert_allclose(mine[1001], got["a0"] / 3, rtol=1e-6)
    assert ours.transform(words).columns == words.columns + ["features"]
    with pytest.raises(ConfigError, match="outputCol 'features' is already a column of the dataset"):
        ours.transform(ours.transform(words))

    synonyms = ours.findSynonymsArray("a0", 5)
    expected = [(r.word, r.similarity) for r in theirs.findSynonyms("a0", 5).collect()]
    assert [w for w, _ in synonyms] == [w for w, _ in expected]
    np.testing.assert_allclose([s for _, s in synonyms], [s for _, s in expected], rtol=1e-5)
    with pytest.raises(KeyError, match="'nope' is not in the vocabulary"):
        ours.findSynonyms("nope", 3)

    model.write().overwrite().save(str(tmp_path / "fitted"))
    again = PipelineModel.load(str(tmp_path / "fitted"))
    assert type(again.stages[-1]) is OwnModel and again.stages[-1].getModelPath() == ours.getModelPath()
    assert sorted_rows(again.transform(df), "id", ["features"]) == sorted_rows(model.transform(df), "id", ["features"])


def unconfigure_logging(monkeypatch):
    """Logging as in a fresh notebook: no handler on the root logger. Called in the test's body:
    pytest adds its own handlers to the root logger after the fixtures are set up."""
    monkeypatch.setattr(logging.getLogger(), "handlers", [])
    logger = logging.getLogger("sparkw2v")
    assert not logger.handlers and logger.level == logging.NOTSET
    return logger


def test_fit_shows_its_progress_on_stderr_when_logging_is_not_set_up(spark, monkeypatch, capsys):
    logger = unconfigure_logging(monkeypatch)
    df = spark.createDataFrame([(["the", "cat", "sat", "on", "the", "mat"],)] * 50, "words array<string>")
    Word2Vec(inputCol="words", vectorSize=4, minCount=1, maxIter=2, sample=0.0).fit(df)
    err = capsys.readouterr().err
    assert "INFO sparkw2v.trainer: vocabulary: 5 words" in err, err
    assert "epoch 2/2 done" in err, err
    assert not logger.handlers and logger.level == logging.NOTSET


def test_progress_goes_once_to_the_users_handler_when_logging_is_set_up(monkeypatch, capsys):
    logger = unconfigure_logging(monkeypatch)
    records = []
    user = logging.Handler()
    user.emit = records.append
    logging.getLogger().addHandler(user)
    with progress_to_stderr():
        assert not logger.handlers
        logging.getLogger("sparkw2v.trainer").warning("epoch 1/1 done")
    assert [r.getMessage() for r in records] == ["epoch 1/1 done"] and capsys.readouterr().err == ""


def test_progress_handler_is_attached_only_while_fit_runs(monkeypatch, capsys):
    logger = unconfigure_logging(monkeypatch)
    with progress_to_stderr():
        logging.getLogger("sparkw2v.trainer").info("epoch 1/1 done")
        logging.getLogger("other").info("not ours")
    logging.getLogger("sparkw2v.trainer").info("after fit")
    err = capsys.readouterr().err
    assert "INFO sparkw2v.trainer: epoch 1/1 done" in err and "not ours" not in err and "after fit" not in err
    assert not logger.handlers and logger.level == logging.NOTSET


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
