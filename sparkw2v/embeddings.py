"""The trained artifact: word vectors as Parquet tables, and queries over them.

A model directory holds ``embeddings/`` (rows of W), ``context_embeddings/`` (rows of W'),
``metadata.json`` and ``_SUCCESS``, written last. Tables have columns ``word`` string, ``id``
int32, ``count`` int64, ``vector`` list<float32>. Loading needs only pyarrow and fsspec.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from numbers import Integral
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

logger = logging.getLogger(__name__)

_KEY_TYPES = (str, int, np.integer)  # a word, or an id
_EXTENDED_KEY_TYPES = (str, int, np.integer, np.ndarray)  # ... or a vector

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


def read_metadata(model_dir: str) -> dict:
    """``model_dir/metadata.json`` as a dict.

    Raises:
        ModelFormatError: it cannot be read as JSON or is not a JSON object; the message names
            the model.
    """
    try:
        meta = storage.read_json(model_dir, METADATA)
    except (OSError, ValueError) as exc:
        raise ModelFormatError(f"model {model_dir!r}: {METADATA} cannot be read as JSON "
                               f"({' '.join(str(exc).split())[:160]}): the model is damaged; train it again") from None
    if not isinstance(meta, dict):
        raise ModelFormatError(f"model {model_dir!r}: {METADATA} is not a JSON object: the model is damaged; "
                               "train it again")
    return meta


def model_vector_size(model_dir: str) -> int | None:
    """The ``vector_size`` that ``model_dir/metadata.json`` records (``{"config": {"vector_size":
    N}}``, as jobs/train.py writes it); None when it records none (a model written by hand with
    :func:`write_model` and other metadata).

    Raises:
        ModelFormatError: metadata.json is not a JSON object, or its vector_size is not a
            positive integer; the message names the model.
    """
    meta = read_metadata(model_dir)
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
    """Word vectors and their vocabulary (immutable), queried in gensim 4's ``KeyedVectors``
    dialect: ``kv[word]``, ``word in kv``, ``len(kv)``, ``index_to_key``, ``key_to_index``,
    ``get_vector``, ``most_similar(positive, negative, topn)``, ``similar_by_vector``,
    ``doesnt_match``, ... with gensim's semantics (an unknown word raises ``KeyError("Key 'w'
    not present")``; query words are excluded); :meth:`to_gensim` gives gensim's own object.

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
        """word -> id (the same dict as :attr:`key_to_index`)."""
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
        return self.vectors[self.get_index(word)]

    # gensim's KeyedVectors dialect (gensim 4.x names and semantics; see the module doc of
    # gensim.models.keyedvectors). Keys are words; an int in 0..V-1 is taken as an index, as
    # gensim does.

    @property
    def index_to_key(self) -> list[str]:
        """The V words by id (gensim's ``index_to_key``; do not modify it)."""
        cached = self.__dict__.get("_index_to_key")
        if cached is None:
            cached = list(self.words)
            object.__setattr__(self, "_index_to_key", cached)
        return cached

    @property
    def key_to_index(self) -> dict[str, int]:
        """word -> id (gensim's ``key_to_index``; do not modify it)."""
        return self.index

    @property
    def vector_size(self) -> int:
        """N, the number of components of a vector."""
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, key) -> bool:
        return self.has_index_for(key)

    def __getitem__(self, key_or_keys) -> np.ndarray:
        """``kv[word]``: (N,) float32 (read-only); ``kv[[w1, w2, ...]]``: (n, N) float32.

        Raises:
            KeyError: ``Key 'w' not present``, for a word outside the vocabulary.
        """
        if isinstance(key_or_keys, _KEY_TYPES):
            return self.get_vector(key_or_keys)
        return np.vstack([self.get_vector(key) for key in key_or_keys])

    def has_index_for(self, key) -> bool:
        """Whether ``key`` is a word of the vocabulary (or an index 0..V-1)."""
        return self.get_index(key, -1) >= 0

    def get_index(self, key, default: int | None = None) -> int:
        """The id (row of :attr:`vectors`) of word ``key``; an int 0..V-1 is returned as is.

        Raises:
            KeyError: ``Key 'w' not present``, when absent and no ``default`` is given.
        """
        i = self.index.get(key, -1) if isinstance(key, str) else -1
        if i >= 0:
            return i
        if isinstance(key, (int, np.integer)) and 0 <= key < len(self.words):
            return int(key)
        if default is not None:
            return default
        raise KeyError(f"Key '{key}' not present")

    def get_vector(self, key, norm: bool = False) -> np.ndarray:
        """(N,) float32 vector of ``key`` (read-only view); ``norm``: scaled to unit length.

        Raises:
            KeyError: ``Key 'w' not present``.
        """
        i = self.get_index(key)
        out = (self.unit() if norm else self.vectors)[i]
        out.setflags(write=False)
        return out

    def get_vecattr(self, key, attr: str) -> int:
        """gensim's per-word attribute; only ``"count"`` (the corpus count, int) exists.

        Raises:
            KeyError: an unknown word, or an attribute other than ``"count"``.
        """
        if attr != "count":
            raise KeyError(f"attribute {attr!r} does not exist: only 'count' is stored")
        return int(self.counts[self.get_index(key)])

    def get_normed_vectors(self) -> np.ndarray:
        """(V, N) float32 unit rows, read-only (zero rows stay zero; gensim gives NaN there)."""
        out = self.unit().view()
        out.setflags(write=False)
        return out

    def similarity(self, w1, w2) -> float:
        """Cosine similarity of two words.

        Raises:
            KeyError: ``Key 'w' not present``.
        """
        u = self.unit()
        return float(u[self.get_index(w1)] @ u[self.get_index(w2)])

    def distance(self, w1, w2) -> float:
        """Cosine distance, 1 - :meth:`similarity`."""
        return 1.0 - self.similarity(w1, w2)

    def n_similarity(self, ws1, ws2) -> float:
        """Cosine similarity of the means of two word lists (raw vectors averaged, as gensim).

        Raises:
            ZeroDivisionError: a list is empty (as gensim).
            KeyError: a word is not in the vocabulary (gensim skips it silently).
        """
        if not (len(ws1) and len(ws2)):
            raise ZeroDivisionError("At least one of the passed list is empty.")
        m1, m2 = (_unit_rows(self[list(ws)].mean(axis=0, keepdims=True))[0] for ws in (ws1, ws2))
        return float(m1 @ m2)

    def most_similar(self, positive=None, negative=None, topn: int | None = 10, clip_start: int = 0,
                     clip_end: int | None = None, restrict_vocab: int | None = None):
        """The ``topn`` words nearest (cosine) to the mean of the unit vectors of ``positive``
        (weight +1) and ``negative`` (weight -1) words, the query words excluded: gensim's
        ``most_similar`` (3CosAdd for ``positive=[b, c], negative=[a]``).

        Args:
            positive, negative: a word, a (N,) vector, or a list of words, vectors (taken as
                given, not normalised) or ``(word, weight)`` pairs.
            topn: how many; None returns the (clip_end - clip_start,) float32 scores of every
                word instead (query words included); < 1 returns [].
            clip_start, clip_end, restrict_vocab: search ids clip_start..clip_end-1 only;
                ``restrict_vocab=n`` means the n most frequent words (ids 0..n-1).

        The sparkw2v 0.1 form ``most_similar(word, k)`` still works: an int given as
        ``negative`` is taken as ``topn`` (``negative=[i]`` for the word of id i).

        Returns:
            [(word, cosine similarity float)] best first.

        Raises:
            KeyError: ``Key 'w' not present in vocabulary``.
            ValueError: no query given, or a vector of other than N components.
            TypeError: an int as ``negative`` together with ``topn``.
        """
        if isinstance(negative, (int, np.integer)) and not isinstance(negative, bool):
            if topn != 10:
                raise TypeError("most_similar: give topn once (most_similar(word, k) is the old form of "
                                "most_similar(word, topn=k))")
            topn, negative = int(negative), None
        if isinstance(topn, Integral) and topn < 1:
            return []
        clip_end = clip_end or len(self.words)
        if restrict_vocab:
            clip_start, clip_end = 0, restrict_vocab
        mean, exclude = self._query(positive, negative)
        scores = self.unit()[clip_start:clip_end] @ mean
        if not topn:
            return scores
        return self._top(scores, topn, [i - clip_start for i in exclude], offset=clip_start)

    def similar_by_word(self, word, topn: int | None = 10, restrict_vocab: int | None = None):
        """``most_similar(positive=[word], topn, restrict_vocab)``."""
        return self.most_similar(positive=[word], topn=topn, restrict_vocab=restrict_vocab)

    similar_by_key = similar_by_word

    def similar_by_vector(self, vector, topn: int | None = 10, restrict_vocab: int | None = None):
        """The ``topn`` words nearest (cosine) to ``vector`` ((N,) floats); nothing excluded.

        Raises:
            ValueError: ``vector`` has other than N components.
        """
        return self.most_similar(positive=[self._as_vector(vector)], topn=topn, restrict_vocab=restrict_vocab)

    def most_similar_cosmul(self, positive=None, negative=None, topn: int | None = 10,
                            restrict_vocab: int | None = None):
        """3CosMul (Levy and Goldberg 2014): the ``topn`` words w maximising
        prod_p s(w, p) / (prod_n s(w, n) + 1e-6), s = (1 + cos) / 2, query words excluded, as
        gensim's ``most_similar_cosmul``. Vectors given are normalised (gensim uses them as
        given) and ``restrict_vocab`` is honoured (gensim 4.4 ignores it).

        Raises:
            KeyError: ``Key 'w' not present``.
            ValueError: no positive word.
        """
        if isinstance(topn, Integral) and topn < 1:
            return []
        positive, negative = _as_list(positive), _as_list(negative)
        if not positive:
            raise ValueError("most_similar_cosmul needs at least one positive word")
        units = self.unit()[:restrict_vocab or len(self.words)]
        exclude = [self.get_index(k) for k in positive + negative if not isinstance(k, np.ndarray)]

        def shifted(key):
            term = (_unit_rows(self._as_vector(key)[None, :])[0] if isinstance(key, np.ndarray)
                    else self.get_vector(key, norm=True))
            return (1 + units @ term) / 2

        denominator = np.prod([shifted(k) for k in negative], axis=0) if negative else 1.0
        scores = np.prod([shifted(k) for k in positive], axis=0) / (denominator + 1e-6)
        if not topn:
            return scores
        return self._top(scores, topn, exclude)

    def analogy(self, a: str, b: str, c: str, k: int = 1) -> list[tuple[str, float]]:
        """a is to b as c is to ?: top k by 3CosAdd, cos(w, b - a + c) over unit vectors
        (Mikolov et al. 2013a), a, b and c excluded; ``most_similar(positive=[b, c],
        negative=[a], topn=k)``."""
        return self.most_similar(positive=[b, c], negative=[a], topn=k)

    def rank_by_centrality(self, words, use_norm: bool = True) -> list[tuple[float, str]]:
        """[(cosine to the centroid, word)] most central first; words outside the vocabulary
        are skipped with a warning (gensim's ``rank_by_centrality``).

        Raises:
            ValueError: no word of ``words`` is in the vocabulary.
        """
        used = [w for w in words if w in self]
        if len(used) != len(words):
            logger.warning("vectors for words %s are not present in the model, ignoring these words",
                           set(words) - set(used))
        if not used:
            raise ValueError("cannot select a word from an empty list")
        vectors = np.vstack([self.get_vector(w, norm=use_norm) for w in used])
        mean = _unit_rows(vectors.mean(axis=0, keepdims=True))[0]
        return sorted(zip((float(d) for d in vectors @ mean), used), reverse=True)

    def doesnt_match(self, words) -> str:
        """The word of ``words`` farthest (cosine) from the mean of their unit vectors; words
        outside the vocabulary are skipped with a warning, as gensim.

        Raises:
            ValueError: no word of ``words`` is in the vocabulary.
        """
        return self.rank_by_centrality(words)[-1][1]

    def distances(self, word_or_vector, other_words=()) -> np.ndarray:
        """(n,) cosine distances from a word or (N,) vector to ``other_words`` (default: every
        word, itself included).

        Raises:
            KeyError: ``Key 'w' not present``.
        """
        query = (self.get_vector(word_or_vector, norm=True) if isinstance(word_or_vector, _KEY_TYPES)
                 else _unit_rows(self._as_vector(word_or_vector)[None, :])[0])
        rows = self.unit() if not len(other_words) else self.unit()[[self.get_index(w) for w in other_words]]
        return 1 - rows @ query

    def closer_than(self, key1, key2) -> list[str]:
        """The words closer (cosine) to ``key1`` than ``key2`` is, ``key1`` excluded."""
        d = self.distances(key1)
        i1, i2 = self.get_index(key1), self.get_index(key2)
        return [self.words[i] for i in np.flatnonzero(d < d[i2]) if i != i1]

    def rank(self, key1, key2) -> int:
        """1 + the number of words closer to ``key1`` than ``key2`` is (1: its nearest)."""
        return len(self.closer_than(key1, key2)) + 1

    def to_gensim(self):
        """A ``gensim.models.KeyedVectors`` with the same words (same order), float32 vectors
        (a copy) and counts (``get_vecattr(word, "count")``).

        Raises:
            ImportError: gensim is not installed (``pip install gensim``).
        """
        try:
            from gensim.models import KeyedVectors
        except ImportError:
            raise ImportError("Embeddings.to_gensim needs gensim: pip install gensim "
                              "(or the 'bench' extra: pip install 'sparkw2v[bench]')") from None
        kv = KeyedVectors(self.vector_size, count=0, dtype=np.float32)
        kv.add_vectors(list(self.words), np.array(self.vectors, dtype=np.float32))
        for word, count in zip(self.words, self.counts.tolist()):
            kv.set_vecattr(word, "count", count)
        return kv

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

    def _as_vector(self, vector) -> np.ndarray:
        """``vector`` as (N,) float32; ValueError naming the shape when it is not one."""
        v = np.asarray(vector, dtype=np.float32)
        if v.shape != (self.vector_size,):
            raise ValueError(f"a query vector must have shape ({self.vector_size},), the model's vector_size; "
                             f"got {v.shape}")
        return v

    def _query(self, positive, negative) -> tuple[np.ndarray, list[int]]:
        """gensim's ``most_similar`` query: the weighted sum of the unit vectors of the words and
        the vectors as given, scaled to unit length ((N,) float32; the direction of gensim's
        weighted mean), and the ids of the words."""
        terms = [(k, 1.0) for k in _as_list(positive)] + [(k, -1.0) for k in _as_list(negative)]
        terms = [t if isinstance(t[0], _EXTENDED_KEY_TYPES) else (t[0][0], float(t[0][1])) for t in terms]
        if not terms:
            raise ValueError("most_similar needs a word or vector: give positive=[...] and/or negative=[...]")
        mean = np.zeros(self.vector_size, np.float32)
        exclude = []
        for key, weight in terms:
            if isinstance(key, np.ndarray):
                mean += weight * self._as_vector(key)
                continue
            if not self.has_index_for(key):
                raise KeyError(f"Key '{key}' not present in vocabulary")
            exclude.append(self.get_index(key))
            mean += weight * self.unit()[exclude[-1]]
        return _unit_rows(mean[None, :])[0].astype(np.float32), exclude

    def _top(self, scores: np.ndarray, k: int, exclude, offset: int = 0) -> list[tuple[str, float]]:
        """The k best (word, score) of ``scores``, the scores of ids offset, offset + 1, ...;
        ``exclude``: positions in ``scores`` to leave out (those outside it ignored)."""
        scores = scores.astype(np.float64, copy=True)
        gone = [i for i in set(exclude) if 0 <= i < len(scores)]
        scores[gone] = -np.inf
        k = min(int(k), len(scores) - len(gone))
        if k <= 0:
            return []
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(self.words[offset + i], float(scores[i])) for i in top]


def _as_list(value) -> list:
    """gensim's ``_ensure_list``: None -> [], a key or (N,) vector -> [it], a (n, N) array -> its
    rows, a list as is."""
    if value is None:
        return []
    if isinstance(value, _KEY_TYPES) or (isinstance(value, np.ndarray) and value.ndim == 1):
        return [value]
    if isinstance(value, np.ndarray) and value.ndim == 2:
        return list(value)
    return list(value)
