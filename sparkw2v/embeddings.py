"""The trained artifact: word vectors as Parquet tables, and queries over them.

A model directory holds ``embeddings/`` (rows of W), ``context_embeddings/`` (rows of W'),
``metadata.json`` and ``_SUCCESS``, written last. Tables have columns ``word`` string, ``id``
int32, ``count`` int64, ``vector`` list<float32>. Loading needs only pyarrow and fsspec.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from . import storage
from .errors import ModelFormatError

EMBEDDINGS = "embeddings"
CONTEXT_EMBEDDINGS = "context_embeddings"
METADATA = "metadata.json"
MLLIB = "mllib"

TABLE_SCHEMA = pa.schema([
    pa.field("word", pa.string(), nullable=False),
    pa.field("id", pa.int32(), nullable=False),
    pa.field("count", pa.int64(), nullable=False),
    pa.field("vector", pa.list_(pa.field("element", pa.float32(), nullable=False)), nullable=False),
])


def vectors_table(words, counts: np.ndarray, vectors: np.ndarray, ids: np.ndarray | None = None) -> pa.Table:
    """An embedding table: (n,) words, (n,) int64 counts, (n, N) float32 vectors, (n,) int32 ids
    (default 0..n-1).

    Raises:
        ValueError: n x N >= 2**31 (one list array holds at most that many values: write parts).
    """
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    V, N = vectors.shape
    if V * N >= 2**31:
        raise ValueError(f"{V} x {N} vectors are too many values for one table: write it in parts")
    offsets = pa.array(np.arange(0, V * N + 1, N, dtype=np.int32))
    values = pa.ListArray.from_arrays(offsets, pa.array(vectors.reshape(-1)),
                                      type=TABLE_SCHEMA.field("vector").type)
    ids = np.arange(V, dtype=np.int32) if ids is None else np.asarray(ids, np.int32)
    return pa.table([pa.array(list(words), pa.string()), pa.array(ids),
                     pa.array(np.asarray(counts, dtype=np.int64)), values], schema=TABLE_SCHEMA)


def write_mllib_metadata(url: str, vector_size: int, params: dict[str, Any] | None = None) -> None:
    """The ``metadata/part-00000`` of Spark MLlib's ``Word2VecModel`` layout at ``url`` (one
    JSON line: class, timestamp, sparkVersion, uid, paramMap, defaultParamMap).

    Args:
        params: MLlib parameter values (vectorSize, windowSize, minCount, maxIter, stepSize,
            seed, numPartitions, maxSentenceLength, inputCol, outputCol); missing ones default.
    """
    import time
    import uuid
    from importlib.metadata import version

    uid = f"Word2Vec_sparkw2v_{uuid.uuid4().hex[:12]}"
    defaults = {"vectorSize": int(vector_size), "windowSize": 5, "minCount": 5, "maxIter": 1,
                "stepSize": 0.025, "seed": 1, "numPartitions": 1, "maxSentenceLength": 1000,
                "outputCol": f"{uid}__output"}
    meta = {"class": "org.apache.spark.ml.feature.Word2VecModel", "timestamp": int(time.time() * 1000),
            "sparkVersion": version("pyspark"), "uid": uid,
            "paramMap": {"vectorSize": int(vector_size), **(params or {})}, "defaultParamMap": defaults}
    fs, path = storage.url_to_fs(url)
    fs.makedirs(storage.join(fs, path, "metadata"), exist_ok=True)
    with fs.open(storage.join(fs, path, "metadata", "part-00000"), "w") as fh:
        fh.write(json.dumps(meta) + "\n")


def write_mllib_model(url: str, words, W: np.ndarray, params: dict[str, Any] | None = None) -> None:
    """Write W ((V, N) float32, held here) in Spark MLlib's ``Word2VecModel`` layout at ``url``,
    readable by ``pyspark.ml.feature.Word2VecModel.load(url)``: ``metadata/part-00000``
    (:func:`write_mllib_metadata`) and ``data/`` (Parquet rows word string, vector array<float>).
    """
    W = np.asarray(W, dtype=np.float32)
    write_mllib_metadata(url, int(W.shape[1]), params)
    table = vectors_table(words, np.zeros(len(words), np.int64), W).select(["word", "vector"])
    storage.write_table(table, url, "data")


def write_model(url: str, words, counts: np.ndarray, W: np.ndarray, Wp: np.ndarray,
                metadata: dict[str, Any], overwrite: bool = False,
                mllib_params: dict[str, Any] | None = None, prepared: bool = False) -> None:
    """Write a model directory; ``_SUCCESS`` goes last, so a failed write never looks complete.

    Beside our tables, ``mllib/`` holds W in Spark MLlib's layout (``write_mllib_model``).
    ``prepared``: the caller already made ``url`` with ``storage.prepare_output`` (it may hold
    checkpoints); otherwise it is prepared here.

    Raises:
        OutputExistsError: ``url`` exists, ``overwrite`` is False and ``prepared`` is False.
    """
    if not prepared:
        storage.prepare_output(url, overwrite)
    storage.write_table(vectors_table(words, counts, W), url, EMBEDDINGS)
    storage.write_table(vectors_table(words, counts, Wp), url, CONTEXT_EMBEDDINGS)
    write_mllib_model(storage.child(url, MLLIB), words, W, mllib_params)
    storage.write_json(metadata, url, METADATA)
    storage.mark_complete(url)


def validate_model_dir(model_dir: str, table: str = EMBEDDINGS) -> list[str]:
    """Check that ``model_dir`` is a complete sparkw2v model whose ``table`` holds Parquet files
    of the model's schema (their footers only: cheap); returns those files.

    Raises:
        IncompleteModelError: missing, or no ``_SUCCESS`` marker.
        ModelFormatError: a prepared corpus or something else, no such table, a file that is
            not Parquet, or a file of another schema; the message names it.
    """
    storage.require_complete(model_dir)
    fs, path = storage.url_to_fs(model_dir)
    try:
        kind = storage.read_json(model_dir, storage.MARKER).get("kind", "model")
    except (OSError, ValueError):
        kind = "model"
    if kind != "model":
        raise ModelFormatError(f"{model_dir!r} is a {kind} directory, not a model: give a directory written by "
                               "jobs/train.py")
    if not fs.exists(storage.join(fs, path, METADATA)):
        raise ModelFormatError(f"{model_dir!r} has no {METADATA}: it is not a sparkw2v model (a prepared corpus?); "
                               "give a directory written by jobs/train.py")
    table_path = storage.join(fs, path, table)
    if not fs.isdir(table_path):
        raise ModelFormatError(f"model {model_dir!r} has no {table}/ table: it is damaged; train it again")
    files = sorted(p for p in fs.find(table_path)
                   if not p.rsplit("/", 1)[-1].startswith((".", "_")))
    if not files:
        raise ModelFormatError(f"model {model_dir!r}: {table}/ holds no Parquet file; train it again")
    for f in files:
        try:
            schema = pq.read_schema(f, filesystem=fs)
        except (pa.ArrowException, OSError) as exc:
            raise ModelFormatError(f"model {model_dir!r}: {f} is not a Parquet file "
                                   f"({' '.join(str(exc).split())[:160]}); remove it or train again") from None
        missing = [c.name for c in TABLE_SCHEMA if c.name not in schema.names]
        wrong = [c.name for c in TABLE_SCHEMA if c.name in schema.names and
                 not _same_type(schema.field(c.name).type, c.type)]
        if missing or wrong:
            raise ModelFormatError(f"model {model_dir!r}: {f} has columns {schema.names} of other types than "
                                   "word string, id int, count long, vector array<float>; it is not a sparkw2v "
                                   "table (remove it or train again)")
    return files


def _same_type(found: pa.DataType, want: pa.DataType) -> bool:
    """A column type as the model's schema has it; a list's element may be named otherwise
    ("item", "element") or nullable, but it must be float32."""
    if pa.types.is_list(want):
        return pa.types.is_list(found) and found.value_type.equals(want.value_type)
    return found.equals(want)


def model_vector_size(model_dir: str) -> int | None:
    """The ``vector_size`` that ``model_dir/metadata.json`` records (``{"config": {"vector_size":
    N}}``, as jobs/train.py writes it); None when it records none (a model written by hand with
    :func:`write_model` and other metadata).

    Raises:
        ModelFormatError: metadata.json is not a JSON object, or its vector_size is not a
            positive integer; the message names the model.
    """
    try:
        meta = storage.read_json(model_dir, METADATA)
    except (OSError, ValueError) as exc:
        raise ModelFormatError(f"model {model_dir!r}: {METADATA} cannot be read as JSON "
                               f"({' '.join(str(exc).split())[:160]}): the model is damaged; train it again") from None
    if not isinstance(meta, dict):
        raise ModelFormatError(f"model {model_dir!r}: {METADATA} is not a JSON object: the model is damaged; "
                               "train it again")
    config = meta.get("config")
    size = config.get("vector_size") if isinstance(config, dict) else None
    if size is None:
        return None
    if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
        raise ModelFormatError(f"model {model_dir!r}: {METADATA} gives vector_size {size!r}, not a positive "
                               "integer: the model is damaged; train it again")
    return size


def _scatter(batch, name: str, n: int, vectors, words: list, counts: np.ndarray, seen: np.ndarray,
             width: int | None = None):
    """Put one record batch's rows at their ids; returns the (n, N) array (made on first use).

    ``width``: the number of components every vector must have (metadata.json's vector_size);
    None: that of the first vector read.

    Raises:
        ModelFormatError: a null, a vector of another width or with a NaN or infinite
            component, an id outside 0..n-1 or read twice; the message names the file.
    """
    ids = batch.column("id").to_numpy(zero_copy_only=False)
    vec = batch.column("vector")
    if vec.null_count or batch.column("word").null_count or batch.column("id").null_count:
        raise ModelFormatError(f"model file {name} holds a null word, id or vector: the model is damaged; train it again")
    lengths = np.diff(vec.offsets.to_numpy())
    if vectors is not None:
        width = vectors.shape[1]
    elif width is None:
        width = int(lengths[0]) if lengths.size else 0
    if lengths.size and (lengths != width).any():
        bad = int(ids[np.flatnonzero(lengths != width)[0]])
        raise ModelFormatError(f"model file {name}: the vector of word id {bad} has "
                               f"{int(lengths[lengths != width][0])} components, not {width} (the model's "
                               "vector_size): the model is damaged; train it again")
    if ids.size and (ids.min() < 0 or ids.max() >= n):
        raise ModelFormatError(f"model file {name} holds word id {int(ids.max() if ids.max() >= n else ids.min())}, "
                               f"outside 0..{n - 1}: the model is damaged")
    if seen[ids].any() or np.unique(ids).size != ids.size:
        raise ModelFormatError(f"model file {name} holds word id {int(ids[seen[ids]][0]) if seen[ids].any() else int(ids[0])} "
                               "twice: the model is damaged")
    values = vec.flatten().to_numpy(zero_copy_only=False).reshape(len(ids), width)
    finite = np.isfinite(values).all(axis=1)
    if not finite.all():
        raise ModelFormatError(f"model file {name}: the vector of word id {int(ids[np.flatnonzero(~finite)[0]])} "
                               "holds a NaN or infinite component: the model is damaged; train it again")
    seen[ids] = True
    if vectors is None:
        vectors = np.zeros((n, width), np.float32)
    vectors[ids] = values
    counts[ids] = batch.column("count").to_numpy(zero_copy_only=False)
    for i, w in zip(ids.tolist(), batch.column("word").to_pylist()):
        words[i] = w
    return vectors


def _unit_rows(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


@dataclass(frozen=True)
class Embeddings:
    """Word vectors and their vocabulary (immutable).

    Attributes:
        words: tuple of V str, by descending count (id = position).
        counts: (V,) int64 corpus counts.
        vectors: (V, N) float32.
    """

    words: tuple[str, ...]
    counts: np.ndarray
    vectors: np.ndarray

    @classmethod
    def load(cls, model_dir: str, table: str = EMBEDDINGS) -> "Embeddings":
        """Read ``model_dir/table`` (local path or fsspec URL) with pyarrow; no pickle, no Spark.

        Parts are read a record batch at a time and scattered by id into one (V, N) array, so
        the reader needs about the matrix's size (V x N x 4 bytes) plus the words, not several
        copies of the table.

        Raises:
            IncompleteModelError: ``model_dir`` is missing or has no ``_SUCCESS`` marker.
            ModelFormatError: it is not a model, or a file of it is damaged (a null vector, a
                vector of other than ``vector_size`` components (metadata.json's config) or with
                a NaN or infinite component, an id missing or twice, a file that is not Parquet,
                a metadata.json that is not JSON): the message names it.
        """
        files = validate_model_dir(model_dir, table)
        width = model_vector_size(model_dir)
        fs, _ = storage.url_to_fs(model_dir)
        n = sum(pq.ParquetFile(f, filesystem=fs).metadata.num_rows for f in files)
        words: list = [None] * n
        counts = np.zeros(n, np.int64)
        seen = np.zeros(n, bool)
        vectors = None
        for f in files:
            try:
                batches = pq.ParquetFile(f, filesystem=fs).iter_batches(columns=["word", "id", "count", "vector"])
                for batch in batches:
                    vectors = _scatter(batch, f, n, vectors, words, counts, seen, width)
            except (pa.ArrowException, OSError) as exc:
                raise ModelFormatError(f"model file {f} cannot be read ({' '.join(str(exc).split())[:200]}): the "
                                       "model is damaged; train it again") from None
        if not seen.all():
            raise ModelFormatError(f"model {model_dir!r} lacks the vectors of {int((~seen).sum())} word id(s) "
                                   f"(e.g. {int(np.flatnonzero(~seen)[0])}): it is damaged; train it again")
        if vectors is None:
            vectors = np.zeros((0, width or 0), np.float32)
        return cls(tuple(words), counts, vectors)

    @property
    def index(self) -> dict[str, int]:
        """word -> id."""
        cached = self.__dict__.get("_index")
        if cached is None:
            cached = {w: i for i, w in enumerate(self.words)}
            object.__setattr__(self, "_index", cached)
        return cached

    def unit(self) -> np.ndarray:
        """(V, N) float32 rows scaled to unit length (zero rows stay zero)."""
        cached = self.__dict__.get("_unit")
        if cached is None:
            cached = _unit_rows(self.vectors).astype(np.float32)
            object.__setattr__(self, "_unit", cached)
        return cached

    def vector(self, word: str) -> np.ndarray:
        """(N,) float32 vector of ``word``; KeyError if it is not in the vocabulary."""
        return self.vectors[self.index[word]]

    def similarity(self, a: str, b: str) -> float:
        """Cosine similarity of two words."""
        u = self.unit()
        return float(u[self.index[a]] @ u[self.index[b]])

    def most_similar(self, word: str, k: int = 10) -> list[tuple[str, float]]:
        """The k words of highest cosine similarity to ``word`` (itself excluded)."""
        u = self.unit()
        return self._top(u @ u[self.index[word]], k, {self.index[word]})

    def analogy(self, a: str, b: str, c: str, k: int = 1) -> list[tuple[str, float]]:
        """a is to b as c is to ?: top k by 3CosAdd, cos(w, b - a + c) over unit vectors
        (Mikolov et al. 2013a), a, b and c excluded."""
        u = self.unit()
        ia, ib, ic = self.index[a], self.index[b], self.index[c]
        query = _unit_rows((u[ib] - u[ia] + u[ic])[None, :])[0]
        return self._top(u @ query, k, {ia, ib, ic})

    def evaluate(self, analogies: str | None = None, similarity: tuple[str, ...] | list[str] = (),
                 restrict_vocab: int = 30000) -> dict:
        """Analogy accuracy and similarity correlations (see :mod:`sparkw2v.evaluate`).

        Args:
            analogies: path or URL of a ``questions-words.txt``-style file.
            similarity: paths or URLs of word1<TAB>word2<TAB>score files.

        Returns:
            {"analogies": {...}, "similarity": {path: {...}}} for what was given.
        """
        from .evaluate import analogy_accuracy, similarity_correlation

        out: dict = {}
        if analogies:
            out["analogies"] = analogy_accuracy(self, analogies, restrict_vocab)
        for path in similarity:
            out.setdefault("similarity", {})[path] = similarity_correlation(self, path)
        return out

    def _top(self, scores: np.ndarray, k: int, exclude: set[int]) -> list[tuple[str, float]]:
        scores = scores.astype(np.float64, copy=True)
        for i in exclude:
            scores[i] = -np.inf
        k = min(k, len(scores) - len(exclude))
        if k <= 0:
            return []
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(self.words[i], float(scores[i])) for i in top]
