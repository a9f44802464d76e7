"""A Spark ML Estimator that trains with sparkw2v: a drop-in for ``pyspark.ml.feature.Word2Vec``.

``Word2Vec`` takes MLlib's parameter names (inputCol, outputCol, vectorSize, windowSize,
minCount, numPartitions, stepSize, maxIter, seed, maxSentenceLength, with MLlib's defaults;
numPartitions is the number of blocks W and W' are trained in)
plus sparkw2v's (negative, sample, minAlpha, cyclesPerEpoch, tempDir, outputDir), with every
getter and setter MLlib's has, and ``fit`` returns a real ``pyspark.ml.feature.Word2VecModel``
(transform, findSynonyms, getVectors, save), so it works in a ``Pipeline`` wherever MLlib's
does. maxIter is the number of epochs. MLlib's model holds every vector on the driver; with
``outputDir`` set, ``fit`` instead writes a sparkw2v model directory from the executors and
returns this module's ``Word2VecModel``, whose vectors stay there and are used as a DataFrame
(``transform`` is a join; ``toMLlib()`` gives MLlib's model of the same vectors).

The estimator is ``MLWritable``/``MLReadable`` (``DefaultParamsWritable``: its parameters as
JSON under ``path/metadata``), so an unfitted ``Pipeline`` holding it, and a ``CrossValidator``
around it, save and load, on classic Spark and under Spark Connect.

``fit`` logs its progress (the ``sparkw2v`` logger, INFO) to stderr while it runs when logging
is not set up at all (no handler on the root logger nor on ``sparkw2v``), as in a fresh
notebook; once the user configures logging, the records go only where the user sends them.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import tempfile
import uuid

import numpy as np
from pyspark import keyword_only
from pyspark.ml import Estimator, Model
from pyspark.ml.feature import Word2VecModel as MLlibWord2VecModel
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.param.shared import HasInputCol, HasMaxIter, HasOutputCol, HasSeed, HasStepSize
from pyspark.ml.util import DefaultParamsReadable, DefaultParamsWritable, DefaultParamsWriter

from . import storage
from .config import TrainConfig
from .embeddings import EMBEDDINGS, MLLIB, write_mllib_model
from .errors import ConfigError
from .tokenizer import TOKENS

LOGGER = "sparkw2v"
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _param(name: str, doc: str, conv) -> Param:
    return Param(Params._dummy(), name, doc, typeConverter=conv)


class _StderrHandler(logging.Handler):
    """Write each record as one line to the ``sys.stderr`` of the moment (a notebook's stream)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:  # pragma: no cover - logging must never raise
            self.handleError(record)


@contextlib.contextmanager
def progress_to_stderr():
    """While the block runs, send the ``sparkw2v`` logger's INFO records to stderr if logging is
    not set up: no handler on the root logger, on ``sparkw2v`` or between them, as in a fresh
    notebook or script. Otherwise nothing changes (the user's handlers get the records, once).

    Only the ``sparkw2v`` logger is touched (a handler and, if its level is unset, INFO), and
    both are put back when the block ends; the root logger is never changed.
    """
    logger = logging.getLogger(LOGGER)
    configured = logging.getLogger().handlers or logger.handlers or not logger.propagate
    if configured:
        yield
        return
    handler = _StderrHandler(logging.INFO)
    handler.setFormatter(logging.Formatter(_FORMAT))
    level = logger.level
    logger.addHandler(handler)
    if level == logging.NOTSET:
        logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


class _Writer(DefaultParamsWriter):
    """``DefaultParamsWriter`` whose ``overwrite()`` also works under Spark Connect (pyspark's
    removes the old directory through the JVM of a classic session)."""

    def _handleOverwrite(self, path: str) -> None:
        from pyspark.sql.utils import is_remote

        if is_remote():
            from pyspark.ml.connect.readwrite import RemoteMLWriter

            RemoteMLWriter.handleOverwrite(path, True)
        else:
            super()._handleOverwrite(path)


class Word2Vec(Estimator, HasInputCol, HasOutputCol, HasMaxIter, HasSeed, HasStepSize,
               DefaultParamsReadable, DefaultParamsWritable):
    """Skip-gram negative-sampling Word2Vec trained by sparkw2v, with MLlib's interface.

    The input column is array<string> (e.g. the output of ``Tokenizer``); rows longer than
    maxSentenceLength are cut into pieces of that many tokens, as MLlib does.
    ``save(path)`` / ``Word2Vec.load(path)`` keep the parameters (MLlib's DefaultParams layout).
    """

    vectorSize = _param("vectorSize", "the dimension of the word vectors (> 0)", TypeConverters.toInt)
    windowSize = _param("windowSize", "the maximum window size, in words (> 0)", TypeConverters.toInt)
    minCount = _param("minCount", "minimum number of times a word must appear", TypeConverters.toInt)
    numPartitions = _param("numPartitions", "number of blocks W and W' are cut into and trained in parallel "
                           "(sparkw2v's num_blocks; 0: the cluster's task slots, at most 128)", TypeConverters.toInt)
    maxSentenceLength = _param("maxSentenceLength", "maximum words per row; longer rows are cut",
                               TypeConverters.toInt)
    negative = _param("negative", "noise words per (center, context) pair", TypeConverters.toInt)
    sample = _param("sample", "subsampling threshold of frequent words, in [0, 1)", TypeConverters.toFloat)
    minAlpha = _param("minAlpha", "final learning rate", TypeConverters.toFloat)
    cyclesPerEpoch = _param("cyclesPerEpoch", "how often every pair of blocks meets per epoch (>= 0; 0: 16, "
                            "or 5 with more than 64 blocks)", TypeConverters.toInt)
    tempDir = _param("tempDir", "where fit keeps the blocks of W and W' and stages the model for MLlib "
                     "(fsspec URL the driver and executors can reach; default: a local temp dir, "
                     "enough in local mode)", TypeConverters.toString)
    outputDir = _param("outputDir", "if set, fit writes each model from the executors into a new sparkw2v model "
                       "directory under it and returns sparkw2v.ml.Word2VecModel, whose vectors stay there (a "
                       "DataFrame); unset, fit returns MLlib's Word2VecModel, which holds every vector on the "
                       "driver", TypeConverters.toString)
    initFrom = _param("initFrom", "warm start: a sparkw2v model directory whose vectors fit starts from (same "
                      "vectorSize; its words stay, new words join by minCount over the dataset; see "
                      "sparkw2v.warmstart)", TypeConverters.toString)

    @keyword_only
    def __init__(self, *, vectorSize=100, minCount=5, numPartitions=1, stepSize=0.025, maxIter=1,
                 seed=None, inputCol=None, outputCol=None, windowSize=5, maxSentenceLength=1000,
                 negative=5, sample=1e-4, minAlpha=0.0001, cyclesPerEpoch=0, tempDir=None, outputDir=None,
                 initFrom=None):
        super().__init__()
        self._setDefault(vectorSize=100, minCount=5, numPartitions=1, stepSize=0.025, maxIter=1,
                         seed=1, windowSize=5, maxSentenceLength=1000, negative=5, sample=1e-4,
                         minAlpha=0.0001, cyclesPerEpoch=0)
        self._set(**{k: v for k, v in self._input_kwargs.items() if v is not None})

    @keyword_only
    def setParams(self, *, vectorSize=None, minCount=None, numPartitions=None, stepSize=None, maxIter=None,
                  seed=None, inputCol=None, outputCol=None, windowSize=None, maxSentenceLength=None,
                  negative=None, sample=None, minAlpha=None, cyclesPerEpoch=None, tempDir=None, outputDir=None,
                  initFrom=None):
        """Set any of the constructor's parameters (those given, not None)."""
        return self._set(**{k: v for k, v in self._input_kwargs.items() if v is not None})

    def write(self) -> _Writer:
        """An MLWriter of the parameters (``save(path)``, ``write().overwrite().save(path)``)."""
        return _Writer(self)

    # MLlib's getters (getMaxIter, getSeed, getStepSize, getInputCol, getOutputCol come with
    # the shared params) and setters, then sparkw2v's own.
    def getVectorSize(self) -> int:
        return self.getOrDefault(self.vectorSize)

    def getWindowSize(self) -> int:
        return self.getOrDefault(self.windowSize)

    def getMinCount(self) -> int:
        return self.getOrDefault(self.minCount)

    def getNumPartitions(self) -> int:
        return self.getOrDefault(self.numPartitions)

    def getMaxSentenceLength(self) -> int:
        return self.getOrDefault(self.maxSentenceLength)

    def getNegative(self) -> int:
        return self.getOrDefault(self.negative)

    def getSample(self) -> float:
        return self.getOrDefault(self.sample)

    def getMinAlpha(self) -> float:
        return self.getOrDefault(self.minAlpha)

    def getCyclesPerEpoch(self) -> int:
        return self.getOrDefault(self.cyclesPerEpoch)

    def getTempDir(self) -> str | None:
        """The block store's URL, None when unset (a local temporary directory)."""
        return self.getOrDefault(self.tempDir) if self.isDefined(self.tempDir) else None

    def getOutputDir(self) -> str | None:
        """Where fit writes model directories, None when unset (fit returns MLlib's model)."""
        return self.getOrDefault(self.outputDir) if self.isDefined(self.outputDir) else None

    def getInitFrom(self) -> str | None:
        """The model fit starts from (warm start), None when unset (a fresh start)."""
        return self.getOrDefault(self.initFrom) if self.isDefined(self.initFrom) else None

    def setInitFrom(self, value: str):
        return self._set(initFrom=value)

    def setVectorSize(self, value: int):
        return self._set(vectorSize=value)

    def setWindowSize(self, value: int):
        return self._set(windowSize=value)

    def setMinCount(self, value: int):
        return self._set(minCount=value)

    def setNumPartitions(self, value: int):
        return self._set(numPartitions=value)

    def setMaxSentenceLength(self, value: int):
        return self._set(maxSentenceLength=value)

    def setMaxIter(self, value: int):
        return self._set(maxIter=value)

    def setStepSize(self, value: float):
        return self._set(stepSize=value)

    def setSeed(self, value: int):
        return self._set(seed=value)

    def setInputCol(self, value: str):
        return self._set(inputCol=value)

    def setOutputCol(self, value: str):
        return self._set(outputCol=value)

    def setNegative(self, value: int):
        return self._set(negative=value)

    def setSample(self, value: float):
        return self._set(sample=value)

    def setMinAlpha(self, value: float):
        return self._set(minAlpha=value)

    def setCyclesPerEpoch(self, value: int):
        return self._set(cyclesPerEpoch=value)

    def setTempDir(self, value: str):
        return self._set(tempDir=value)

    def setOutputDir(self, value: str):
        return self._set(outputDir=value)

    def config(self) -> TrainConfig:
        """The sparkw2v settings these parameters mean (validated; ConfigError if out of range)."""
        g = self.getOrDefault
        return TrainConfig(vector_size=g(self.vectorSize), window=g(self.windowSize),
                           min_count=g(self.minCount), num_blocks=g(self.numPartitions),
                           alpha=g(self.stepSize), min_alpha=min(g(self.minAlpha), g(self.stepSize)),
                           epochs=g(self.maxIter), seed=abs(int(g(self.seed))) % (2**63),
                           negative=g(self.negative), sample=g(self.sample),
                           cycles_per_epoch=g(self.cyclesPerEpoch))

    def _tokens(self, dataset):
        """The rows of the input column cut into pieces of at most maxSentenceLength words, as
        the DataFrame sparkw2v trains on (ConfigError for a missing or non-array<string> column)."""
        from pyspark.sql import functions as F

        length = self.getOrDefault(self.maxSentenceLength)
        if length < 1:
            raise ConfigError(f"maxSentenceLength={length} is invalid: it must be an integer >= 1")
        col = _input_column(dataset, self.getInputCol())
        pieces = F.transform(F.sequence(F.lit(0), F.greatest(F.lit(0), F.ceil(F.size(col) / length) - 1)),
                             lambda i: F.slice(col, i * length + 1, length))
        return dataset.where(col.isNotNull()).select(F.explode(pieces).alias(TOKENS))

    def _mllib_params(self, config: TrainConfig, num_blocks: int) -> dict:
        params = {"vectorSize": config.vector_size, "windowSize": config.window, "minCount": config.min_count,
                  "numPartitions": num_blocks, "stepSize": config.alpha, "maxIter": config.epochs,
                  "seed": config.seed, "maxSentenceLength": self.getMaxSentenceLength(),
                  "inputCol": self.getInputCol()}
        if self.isDefined(self.outputCol):
            params["outputCol"] = self.getOutputCol()
        return params

    def _fit(self, dataset):
        from .trainer import train_tokens

        config = self.config()
        tokens = self._tokens(dataset)
        if self.isDefined(self.outputDir):
            return self._fit_to_directory(tokens, config)
        work_dir = (storage.child(self.getOrDefault(self.tempDir), f"sparkw2v-blocks-{uuid.uuid4().hex}")
                    if self.isDefined(self.tempDir) else None)
        try:
            # MLlib's Word2VecModel holds every vector on the driver: so does this estimator
            with progress_to_stderr(), train_tokens(tokens, config, work_dir=work_dir,
                                                         init_from=self.getInitFrom()) as result:
                W = result.W
        finally:
            if work_dir is not None:
                fs, path = storage.url_to_fs(work_dir)
                if fs.exists(path):
                    fs.rm(path, recursive=True)
        params = self._mllib_params(config, result.num_blocks)
        # The model is handed to MLlib through its own on-disk layout, which its reader loads
        # eagerly into the JVM; the staging directory is removed afterwards.
        if self.isDefined(self.tempDir):
            url = storage.child(self.getOrDefault(self.tempDir), f"sparkw2v-mllib-{uuid.uuid4().hex}")
            try:
                write_mllib_model(url, result.vocab.words, W, params)
                return MLlibWord2VecModel.load(url)
            finally:
                fs, path = storage.url_to_fs(url)
                if fs.exists(path):
                    fs.rm(path, recursive=True)
        with tempfile.TemporaryDirectory(prefix="sparkw2v-mllib-") as tmp:
            write_mllib_model(tmp + "/model", result.vocab.words, W, params)
            return MLlibWord2VecModel.load(tmp + "/model")

    def _fit_to_directory(self, tokens, config: TrainConfig) -> "Word2VecModel":
        """Train, and write the model directory from the executors into a new subdirectory of
        outputDir (the driver never holds W or W'); the blocks live in tempDir if set, else in
        the model directory's ``_blocks`` (removed once the model is written)."""
        from . import __version__
        from .session import master
        from .trainer import train_tokens

        url = storage.child(storage.absolute(self.getOrDefault(self.outputDir)), f"{self.uid}-{uuid.uuid4().hex[:12]}")
        storage.prepare_output(url, overwrite=False)
        work_dir = storage.child(self.getOrDefault(self.tempDir) if self.isDefined(self.tempDir) else url,
                                 f"_blocks-{uuid.uuid4().hex[:12]}")
        spark = tokens.sparkSession
        try:
            with progress_to_stderr(), train_tokens(tokens, config, work_dir=work_dir,
                                                         init_from=self.getInitFrom()) as result:
                metadata = {"sparkw2v_version": __version__, "spark_version": spark.version,
                            "master": master(spark), "input": "(DataFrame)", "config": config.to_dict(),
                            "num_blocks": result.num_blocks, "corpus": result.stats, "resumed": False,
                            "init_from": result.stats.get("warm_start"), "cycles": result.cycles}
                result.write_model(spark, url, metadata, mllib_params=self._mllib_params(config, result.num_blocks))
        except BaseException:
            fs, path = storage.url_to_fs(url)
            storage.remove_quietly(fs, path)
            raise
        finally:
            fs, path = storage.url_to_fs(work_dir)
            storage.remove_quietly(fs, path)
        model = Word2VecModel(modelPath=url, vectorSize=config.vector_size, inputCol=self.getInputCol())
        if self.isDefined(self.outputCol):
            model.setOutputCol(self.getOutputCol())
        return model


def _input_column(dataset, name: str):
    """The column ``name`` of ``dataset`` if it is array<string> (ConfigError otherwise)."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import ArrayType, StringType

    if name not in dataset.columns:
        raise ConfigError(f"inputCol {name!r} is not a column of the dataset; its columns are {dataset.columns}")
    dtype = dataset.schema[name].dataType
    if not (isinstance(dtype, ArrayType) and isinstance(dtype.elementType, StringType)):
        raise ConfigError(f"inputCol {name!r} has type {dtype.simpleString()}; Word2Vec takes array<string> "
                          "(split text first, e.g. with pyspark.ml.feature.Tokenizer)")
    return F.col("`" + name.replace("`", "``") + "`")


class Word2VecModel(Model, HasInputCol, HasOutputCol, DefaultParamsReadable, DefaultParamsWritable):
    """A fitted model whose vectors stay in a sparkw2v model directory, read as a DataFrame.

    Made by ``Word2Vec(outputDir=...).fit(df)``; MLlib's ``Word2VecModel`` interface:
    ``transform`` (document vectors, a join of the words with the vectors), ``getVectors``,
    ``findSynonyms``, ``findSynonymsArray``; ``toMLlib()`` gives MLlib's own model (which loads
    every vector into the driver) and ``embeddings()`` sparkw2v's ``Embeddings`` (gensim's API,
    in this process). ``save`` keeps the parameters, the model directory's path among them,
    not a copy of the vectors: the model directory must stay where it is.
    """

    modelPath = _param("modelPath", "the sparkw2v model directory holding the vectors (a path or fsspec URL "
                       "this process and the executors reach)", TypeConverters.toString)
    vectorSize = _param("vectorSize", "the dimension of the word vectors", TypeConverters.toInt)

    @keyword_only
    def __init__(self, *, modelPath=None, vectorSize=None, inputCol=None, outputCol=None):
        super().__init__()
        self._set(**{k: v for k, v in self._input_kwargs.items() if v is not None})

    def write(self) -> _Writer:
        """An MLWriter of the parameters (the vectors stay in ``modelPath``)."""
        return _Writer(self)

    def getModelPath(self) -> str:
        return self.getOrDefault(self.modelPath)

    def getVectorSize(self) -> int:
        return self.getOrDefault(self.vectorSize)

    def setInputCol(self, value: str):
        return self._set(inputCol=value)

    def setOutputCol(self, value: str):
        return self._set(outputCol=value)

    def _session(self, dataset=None):
        from pyspark.sql import SparkSession

        return dataset.sparkSession if dataset is not None else SparkSession.active()

    def _vector_arrays(self, spark):
        """DataFrame (word string, vector array<float>): the model's word vectors."""
        return spark.read.parquet(storage.child(self.getModelPath(), EMBEDDINGS)).select("word", "vector")

    def getVectors(self):
        """DataFrame (word string, vector ml Vector (dense, N doubles)), as MLlib's ``getVectors``."""
        from pyspark.ml.functions import array_to_vector

        return self._vector_arrays(self._session()).select("word", array_to_vector("vector").alias("vector"))

    def _transform(self, dataset):
        """Add outputCol: per row, the sum of the vectors of its words in the vocabulary divided by
        its number of words (MLlib's document vector; zeros for an empty row, null for a null
        one), computed as a join of the distinct rows' words with the vectors."""
        from pyspark.ml.functions import array_to_vector
        from pyspark.sql import functions as F

        col = _input_column(dataset, self.getInputCol())
        if self.getOutputCol() in dataset.columns:
            raise ConfigError(f"outputCol {self.getOutputCol()!r} is already a column of the dataset: "
                              "choose another (setOutputCol)")
        n = self.getVectorSize()
        key = "__sparkw2v_words"
        rows = dataset.select(col.alias(key)).where(F.col(key).isNotNull()).distinct()
        words = rows.select(key, F.posexplode(key).alias("pos", "word"))
        # summed in the row's word order, as MLlib does (the same result on every run)
        in_order = F.transform(F.array_sort(F.collect_list(F.struct("pos", "vector"))), lambda x: x["vector"])
        sums = (words.join(self._vector_arrays(dataset.sparkSession), "word")
                .groupBy(key)
                .agg(F.aggregate(in_order, F.array_repeat(F.lit(0.0), n),
                                 lambda acc, v: F.zip_with(acc, v, lambda a, b: a + b)).alias("sum")))
        zeros = F.array_repeat(F.lit(0.0), n)
        means = rows.join(sums, key, "left").select(
            key, array_to_vector(F.transform(F.coalesce("sum", zeros),
                                             lambda x: x / F.greatest(F.size(key), F.lit(1)))).alias("__vector"))
        out = dataset.withColumn(key, col).join(means, key, "left")
        return out.select(*[F.col("`" + c.replace("`", "``") + "`") for c in dataset.columns],
                          F.col("__vector").alias(self.getOutputCol()))

    def findSynonyms(self, word: str, num: int):
        """DataFrame (word, similarity) of the ``num`` words nearest ``word`` by cosine similarity,
        most similar first, ``word`` itself excluded, as MLlib's.

        Raises:
            KeyError: ``word`` is not in the vocabulary.
        """
        from pyspark.sql import functions as F

        vectors = self._vector_arrays(self._session())
        found = vectors.where(F.col("word") == F.lit(word)).select("vector").first()
        if found is None:
            raise KeyError(f"word {word!r} is not in the vocabulary")
        query = np.asarray(found[0], np.float64)
        query = query / max(float(np.linalg.norm(query)), 1e-30)
        q = F.array(*[F.lit(float(x)) for x in query])
        dot = F.aggregate(F.zip_with("vector", q, lambda a, b: a * b), F.lit(0.0), lambda acc, x: acc + x)
        norm = F.sqrt(F.aggregate("vector", F.lit(0.0), lambda acc, x: acc + x * x))
        scored = vectors.where(F.col("word") != F.lit(word)).select(
            "word", F.when(norm > 0, dot / norm).otherwise(F.lit(0.0)).alias("similarity"))
        return scored.orderBy(F.col("similarity").desc(), "word").limit(int(num))

    def findSynonymsArray(self, word: str, num: int) -> list[tuple[str, float]]:
        """``findSynonyms`` as a list of (word, similarity)."""
        return [(r.word, r.similarity) for r in self.findSynonyms(word, num).collect()]

    def toMLlib(self) -> MLlibWord2VecModel:
        """MLlib's ``Word2VecModel`` of the same vectors (from ``modelPath``'s ``mllib/`` layout;
        MLlib holds every vector in the driver) with this model's inputCol and outputCol."""
        mllib = MLlibWord2VecModel.load(storage.child(self.getModelPath(), MLLIB))
        mllib.setInputCol(self.getInputCol())
        return mllib.setOutputCol(self.getOutputCol())

    def embeddings(self):
        """sparkw2v's ``Embeddings`` of this model, read into this process."""
        from .embeddings import Embeddings

        return Embeddings.load(self.getModelPath())
