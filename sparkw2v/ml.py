"""A Spark ML Estimator that trains with sparkw2v: a drop-in for ``pyspark.ml.feature.Word2Vec``.

``Word2Vec`` takes MLlib's parameter names (inputCol, outputCol, vectorSize, windowSize,
minCount, numPartitions, stepSize, maxIter, seed, maxSentenceLength, with MLlib's defaults;
numPartitions is the number of blocks W and W' are trained in)
plus sparkw2v's (negative, sample, minAlpha, cyclesPerEpoch), and ``fit`` returns a real
``pyspark.ml.feature.Word2VecModel`` (transform, findSynonyms, getVectors, save), so it works
in a ``Pipeline`` wherever MLlib's does. maxIter is the number of epochs.
"""

from __future__ import annotations

import tempfile
import uuid

from pyspark import keyword_only
from pyspark.ml import Estimator
from pyspark.ml.feature import Word2VecModel
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.param.shared import HasInputCol, HasMaxIter, HasOutputCol, HasSeed, HasStepSize

from . import storage
from .config import TrainConfig
from .embeddings import write_mllib_model
from .tokenizer import TOKENS


def _param(name: str, doc: str, conv) -> Param:
    return Param(Params._dummy(), name, doc, typeConverter=conv)


class Word2Vec(Estimator, HasInputCol, HasOutputCol, HasMaxIter, HasSeed, HasStepSize):
    """Skip-gram negative-sampling Word2Vec trained by sparkw2v, with MLlib's interface.

    The input column is array<string> (e.g. the output of ``Tokenizer``); rows longer than
    maxSentenceLength are cut into pieces of that many tokens, as MLlib does.
    """

    vectorSize = _param("vectorSize", "the dimension of the word vectors (> 0)", TypeConverters.toInt)
    windowSize = _param("windowSize", "the maximum window size, in words (> 0)", TypeConverters.toInt)
    minCount = _param("minCount", "minimum number of times a word must appear", TypeConverters.toInt)
    numPartitions = _param("numPartitions", "number of blocks W and W' are cut into and trained in parallel "
                           "(sparkw2v's num_blocks; 0: the cluster's task slots)", TypeConverters.toInt)
    maxSentenceLength = _param("maxSentenceLength", "maximum words per row; longer rows are cut",
                               TypeConverters.toInt)
    negative = _param("negative", "noise words per (center, context) pair", TypeConverters.toInt)
    sample = _param("sample", "subsampling threshold of frequent words, in [0, 1)", TypeConverters.toFloat)
    minAlpha = _param("minAlpha", "final learning rate", TypeConverters.toFloat)
    cyclesPerEpoch = _param("cyclesPerEpoch", "how often every pair of blocks meets per epoch (>= 1)",
                            TypeConverters.toInt)
    tempDir = _param("tempDir", "where fit keeps the blocks of W and W' and stages the model for MLlib "
                     "(fsspec URL the driver and executors can reach; default: a local temp dir, "
                     "enough in local mode)", TypeConverters.toString)

    @keyword_only
    def __init__(self, *, vectorSize=100, minCount=5, numPartitions=1, stepSize=0.025, maxIter=1,
                 seed=None, inputCol=None, outputCol=None, windowSize=5, maxSentenceLength=1000,
                 negative=5, sample=1e-4, minAlpha=0.0001, cyclesPerEpoch=16, tempDir=None):
        super().__init__()
        self._setDefault(vectorSize=100, minCount=5, numPartitions=1, stepSize=0.025, maxIter=1,
                         seed=1, windowSize=5, maxSentenceLength=1000, negative=5, sample=1e-4,
                         minAlpha=0.0001, cyclesPerEpoch=16)
        self._set(**{k: v for k, v in self._input_kwargs.items() if v is not None})

    @keyword_only
    def setParams(self, **kwargs):
        """Set any of the constructor's parameters."""
        return self._set(**kwargs)

    def setVectorSize(self, value: int):
        return self._set(vectorSize=value)

    def setWindowSize(self, value: int):
        return self._set(windowSize=value)

    def setMinCount(self, value: int):
        return self._set(minCount=value)

    def setNumPartitions(self, value: int):
        return self._set(numPartitions=value)

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

    def config(self) -> TrainConfig:
        """The sparkw2v settings these parameters mean (validated; ConfigError if out of range)."""
        g = self.getOrDefault
        return TrainConfig(vector_size=g(self.vectorSize), window=g(self.windowSize),
                           min_count=g(self.minCount), num_blocks=g(self.numPartitions),
                           alpha=g(self.stepSize), min_alpha=min(g(self.minAlpha), g(self.stepSize)),
                           epochs=g(self.maxIter), seed=abs(int(g(self.seed))) % (2**63),
                           negative=g(self.negative), sample=g(self.sample),
                           cycles_per_epoch=g(self.cyclesPerEpoch))

    def _fit(self, dataset):
        from pyspark.sql import functions as F

        from .trainer import train_tokens

        from pyspark.sql.types import ArrayType, StringType

        from .errors import ConfigError

        config = self.config()
        length = self.getOrDefault(self.maxSentenceLength)
        if length < 1:
            raise ConfigError(f"maxSentenceLength={length} is invalid: it must be an integer >= 1")
        name = self.getInputCol()
        if name not in dataset.columns:
            raise ConfigError(f"inputCol {name!r} is not a column of the dataset; its columns are {dataset.columns}")
        dtype = dataset.schema[name].dataType
        if not (isinstance(dtype, ArrayType) and isinstance(dtype.elementType, StringType)):
            raise ConfigError(f"inputCol {name!r} has type {dtype.simpleString()}; Word2Vec takes array<string> "
                              "(split text first, e.g. with pyspark.ml.feature.Tokenizer)")
        col = F.col("`" + name.replace("`", "``") + "`")
        pieces = F.transform(F.sequence(F.lit(0), F.greatest(F.lit(0), F.ceil(F.size(col) / length) - 1)),
                             lambda i: F.slice(col, i * length + 1, length))
        tokens = dataset.where(col.isNotNull()).select(F.explode(pieces).alias(TOKENS))
        work_dir = (storage.child(self.getOrDefault(self.tempDir), f"sparkw2v-blocks-{uuid.uuid4().hex}")
                    if self.isDefined(self.tempDir) else None)
        try:
            # MLlib's Word2VecModel holds every vector on the driver: so does this estimator
            with train_tokens(tokens, config, work_dir=work_dir) as result:
                W = result.W
        finally:
            if work_dir is not None:
                fs, path = storage.url_to_fs(work_dir)
                if fs.exists(path):
                    fs.rm(path, recursive=True)
        params = {"vectorSize": config.vector_size, "windowSize": config.window, "minCount": config.min_count,
                  "numPartitions": result.num_blocks, "stepSize": config.alpha, "maxIter": config.epochs,
                  "seed": config.seed, "maxSentenceLength": length, "inputCol": self.getInputCol()}
        if self.isDefined(self.outputCol):
            params["outputCol"] = self.getOutputCol()
        # The model is handed to MLlib through its own on-disk layout, which its reader loads
        # eagerly into the JVM; the staging directory is removed afterwards.
        if self.isDefined(self.tempDir):
            url = storage.child(self.getOrDefault(self.tempDir), f"sparkw2v-mllib-{uuid.uuid4().hex}")
            try:
                write_mllib_model(url, result.vocab.words, W, params)
                return Word2VecModel.load(url)
            finally:
                fs, path = storage.url_to_fs(url)
                if fs.exists(path):
                    fs.rm(path, recursive=True)
        with tempfile.TemporaryDirectory(prefix="sparkw2v-mllib-") as tmp:
            write_mllib_model(tmp + "/model", result.vocab.words, W, params)
            return Word2VecModel.load(tmp + "/model")
