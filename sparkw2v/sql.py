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

import re
from dataclasses import dataclass

import numpy as np

from . import storage
from .embeddings import EMBEDDINGS, METADATA, Embeddings, model_vector_size, validate_model_dir

_MODELS: dict[tuple[str, str], Embeddings] = {}
_FOOTER_BYTES = 64 << 10  # the tail of a Parquet file that model_identity digests


def _model(model_dir: str, identity: str) -> Embeddings:
    """The model at ``model_dir`` as it was registered (``identity``, :func:`model_identity` of
    the files it reads), loaded once per process; a model written there since, or a file of it
    replaced, is another identity, hence loaded afresh (and checked again)."""
    key = (model_dir, identity)
    emb = _MODELS.get(key)
    if emb is None:
        for old in [k for k in _MODELS if k[0] == model_dir]:
            del _MODELS[old]  # the model at this path was replaced
        emb = _MODELS[key] = Embeddings.load(model_dir)
    return emb


def model_identity(model_dir: str) -> str:
    """A digest of what the SQL functions read: the bytes of metadata.json, and the name, size,
    modification time and last 64 KiB (the Parquet footer: row groups, offsets, statistics) of
    every file under embeddings/. A model written at the same path since, or a Parquet part
    replaced under the same metadata.json, is another identity.

    Raises:
        OSError: a file of the model cannot be read.
    """
    import hashlib

    fs, path = storage.url_to_fs(model_dir)
    digest = hashlib.sha256()
    with fs.open(storage.join(fs, path, METADATA), "rb") as fh:
        digest.update(fh.read())
    for name, info in sorted(fs.find(storage.join(fs, path, EMBEDDINGS), detail=True).items()):
        size = int(info.get("size") or 0)
        stamp = info.get("mtime", info.get("LastModified", info.get("modified", info.get("created", ""))))
        digest.update(f"\0{name[len(path):]}\0{size}\0{stamp}\0".encode())
        with fs.open(name, "rb") as fh:
            fh.seek(max(0, size - _FOOTER_BYTES))
            digest.update(fh.read(_FOOTER_BYTES))
    return digest.hexdigest()


def cosine(a, b) -> float | None:
    """Cosine similarity of two equal-length vectors; None when undefined."""
    if a is None or b is None or len(a) == 0 or len(a) != len(b):
        return None
    x, y = np.asarray(a, np.float64), np.asarray(b, np.float64)
    norm = np.linalg.norm(x) * np.linalg.norm(y)
    return float(x @ y / norm) if norm > 0 else None


def check_rows(table, model_dir: str, vector_size: int | None = None) -> None:
    """Refuse an embeddings table whose rows a reader would load wrong (one Spark scan).

    ``vector_size``: the number of components every vector must have (metadata.json's); None:
    they must only agree.

    Raises:
        ModelFormatError: a null word, id or vector; vectors of different lengths, or of other
            than ``vector_size`` components; a NaN or infinite component; ids missing, repeated
            or outside 0..V-1. The message names the model, the problem and the fix.
    """
    from pyspark.sql import functions as F

    from .errors import ModelFormatError

    null = F.col("word").isNull() | F.col("id").isNull() | F.col("vector").isNull()
    not_finite = F.exists("vector", lambda x: F.isnan(x) | (F.abs(x) == F.lit(float("inf"))))
    s = table.agg(F.count(F.lit(1)).alias("n"), F.count(F.when(null, 1)).alias("nulls"),
                  F.count(F.when(not_finite, 1)).alias("not_finite"),
                  F.min(F.size("vector")).alias("shortest"), F.max(F.size("vector")).alias("longest"),
                  F.min("id").alias("lo"), F.max("id").alias("hi"), F.countDistinct("id").alias("ids")).first()
    if s.nulls:
        raise ModelFormatError(f"model {model_dir!r}: {s.nulls} row(s) of embeddings/ hold a null word, id or "
                               "vector: the model is damaged; train it again")
    if s.n and s.shortest != s.longest:
        raise ModelFormatError(f"model {model_dir!r}: embeddings/ holds vectors of {s.shortest} to {s.longest} "
                               "components: the model is damaged; train it again")
    if s.n and vector_size is not None and s.shortest != vector_size:
        raise ModelFormatError(f"model {model_dir!r}: embeddings/ holds vectors of {s.shortest} components, but "
                               f"{METADATA} gives vector_size {vector_size}: the model is damaged; train it again")
    if s.not_finite:
        raise ModelFormatError(f"model {model_dir!r}: {s.not_finite} vector(s) of embeddings/ hold a NaN or "
                               "infinite component: the model is damaged; train it again")
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
            raise ValueError(f"k must be a whole number of neighbours, not {k!r}: give an integer such as 10") from None
    if isinstance(k, float) and not k.is_integer():
        raise ValueError(f"k must be a whole number of neighbours, not {k!r}: give an integer such as 10")
    return int(k)


def register(spark, model_dir: str) -> None:
    """Register the views and functions of the model at ``model_dir`` in ``spark``.

    The rows are checked by one Spark scan before anything is registered (the functions load
    the model in Python workers, where a damaged row would surface as a task failure).

    Raises:
        IncompleteModelError: the directory is missing or has no ``_SUCCESS`` marker.
        ModelFormatError: it is not a model, a file of it is not a Parquet table of the
            model's schema, or its rows are damaged (a null word, id or vector, vectors of
            different lengths or of other than metadata.json's vector_size, a NaN or infinite
            component, ids missing, repeated or outside 0..V-1).
    """
    from pyspark.sql.functions import udtf
    from pyspark.sql.types import ArrayType, DoubleType, FloatType

    validate_model_dir(model_dir)
    vector_size = model_vector_size(model_dir)
    identity = model_identity(model_dir)
    table = spark.read.parquet(storage.child(model_dir, EMBEDDINGS))
    check_rows(table, model_dir, vector_size)
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
    # the distance column keeps its default name, "distCol": under Spark Connect (pyspark 4.3)
    # approxSimilarityJoin names it so whatever distCol= asks, and classic Spark does as asked
    pairs = lsh.approxSimilarityJoin(unit, unit, threshold)
    return (pairs.where(F.col("datasetA.word") < F.col("datasetB.word"))
            .select(F.col("datasetA.word").alias("word1"), F.col("datasetB.word").alias("word2"),
                    (1.0 - F.col("distCol") ** 2 / 2.0).alias("similarity")))




# --- the read-only mode of jobs/query.py ----------------------------------------------------
#
# Allow-lists, checked before anything runs; a query runs only when every check that can run
# passes (two on the statement here, a third on its files in jobs/query.py, see below).
#
# 1. The statement's text (``check_statement``, pure Python, in every mode): a lexer that
#    follows Spark's own (SqlBaseLexer.g4: '..' and ".." strings with backslash escapes and
#    doubled quotes, R'..' raw strings, `..` identifiers, -- comments continued by a backslash
#    at the end of a line, nested /* */ comments) splits it into tokens, refusing what it cannot
#    lex the way Spark does (an unterminated string, identifier or comment; a character outside
#    ASCII or Spark's punctuation outside strings and comments; optimizer hints /*+ */; a URI
#    such as s3://b/k as a name). Then: one statement, starting as a query; no DML keyword;
#    every call position (a name, quoted or not, followed by '(') a bare function of
#    ``READ_ONLY_FUNCTIONS`` or a keyword of ``_STRUCTURAL`` (IN, OVER, USING, ...); no
#    IDENTIFIER(...); no bare current_user and the like; USING only as USING (columns); no
#    ${...} (Spark substitutes configuration, environment and system properties into the text
#    before parsing it, strings included).
# 2. The parsed plan (``parse_tree`` + ``check_tree``), where the JVM's parser is reachable
#    (classic Spark, through py4j): every plan node a query operator, every table a view or a
#    WITH name in scope, every function call of READ_ONLY_FUNCTIONS. Spark Connect has no
#    parse-only call (``spark.sql`` runs a command at once), so there the text check stands alone.
#
# Reading files by path (``text.`/etc/passwd``` or ``text.passwd``, which a lexer cannot tell
# from a column ``t.c``) is stopped by Spark itself: check_read_only sets the session's
# ``spark.sql.runSQLOnFiles`` to false (a runtime SQL setting, also under Connect), so such a
# name is only a catalog table that does not exist. The text check also refuses a dotted name
# with a quoted part that is not a plain name (a path), for a clear message, and jobs/query.py
# checks before running a query that it reads no file but the model's (``check_reads``, on the
# analysed plan: ``DataFrame.inputFiles``, in both modes). Anything else is refused, a function
# Spark adds in a later version included.

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

# The functions a read-only query may call: group -> (why it is safe, names). A name is matched
# case-insensitively, unqualified only (``system.builtin.abs`` is refused: give ``abs``).
# Everything else is refused, including functions Spark adds in a later version.
READ_ONLY_FUNCTIONS: dict[str, tuple[str, frozenset[str]]] = {
    "sparkw2v": ("the model's own functions; they read only the model registered at start", frozenset(
        "w2v_cosine w2v_vector w2v_neighbors w2v_analogy".split())),
    "operators": ("arithmetic, comparison, logic and bitwise operators on their arguments", frozenset(
        "! != % & * + - / < <= <=> <> = == > >= << >> >>> ^ | || ~ and or not in div mod negative positive "
        "bit_count bit_get getbit shiftleft shiftright shiftrightunsigned".split())),
    "math": ("pure functions of their numeric arguments", frozenset(
        "abs acos acosh asin asinh atan atan2 atanh bin bround cbrt ceil ceiling conv cos cosh cot csc degrees e "
        "exp expm1 factorial floor greatest hex hypot least ln log log10 log1p log2 pi pmod pow power radians "
        "rint round sec sign signum sin sinh sqrt tan tanh try_add try_divide try_mod try_multiply try_subtract "
        "unhex width_bucket".split())),
    "random": ("random values from a seed: no side effect, nothing read but the seed (sampling words)", frozenset(
        "rand randn random uniform randstr shuffle uuid".split())),
    "vector": ("Spark's own vector arithmetic on array arguments (cosine, norms, sums)", frozenset(
        "vector_avg vector_cosine_similarity vector_inner_product vector_l2_distance vector_norm "
        "vector_normalize vector_sum".split())),
    "string": ("pure functions of their string arguments (regular expressions included)", frozenset(
        "ascii base64 bit_length btrim char char_length character_length chr collate collation concat_ws "
        "contains decode elt encode endswith find_in_set format_number format_string from_base32 initcap instr "
        "is_valid_utf8 jaro_winkler_similarity lcase left len length levenshtein locate lower lpad ltrim "
        "luhn_check make_valid_utf8 mask octet_length overlay position printf quote regexp_count "
        "regexp_extract regexp_extract_all regexp_instr regexp_replace regexp_substr repeat replace right rpad "
        "rtrim sentences soundex space split split_part startswith substr substring substring_index to_base32 "
        "to_binary to_char to_number to_varchar translate trim try_to_binary try_to_number try_validate_utf8 "
        "ucase unbase64 upper validate_utf8 like ilike rlike regexp regexp_like".split())),
    "hash": ("digests of their arguments", frozenset("crc32 hash md5 sha sha1 sha2 xxhash64".split())),
    "collections": ("build, take apart and transform arrays, maps and structs (lambdas included)", frozenset(
        "array array_append array_compact array_contains array_distinct array_except array_insert "
        "array_intersect array_join array_max array_min array_position array_prepend array_remove array_repeat "
        "array_size array_union arrays_overlap arrays_zip flatten get sequence slice sort_array cardinality "
        "concat element_at reverse size try_element_at map map_concat map_contains_key map_entries "
        "map_from_arrays map_from_entries map_keys map_values str_to_map named_struct struct aggregate "
        "array_sort exists filter forall map_filter map_zip_with reduce transform transform_keys "
        "transform_values zip_with".split())),
    "conditional": ("choose between their arguments; raise_error and assert_true only fail the query with the "
                    "caller's own text", frozenset(
                        "case when if between coalesce ifnull nanvl nullif nullifzero nvl nvl2 zeroifnull "
                        "equal_null isnan isnotnull isnull assert_true raise_error".split())),
    "conversion": ("casts and type names of their arguments", frozenset(
        "bigint binary boolean cast date decimal double float int smallint string time timestamp tinyint "
        "typeof".split())),
    "json and csv text": ("parse or write JSON and CSV text given as an argument; nothing is fetched", frozenset(
        "from_json get_json_object json_array_length json_object_keys json_tuple schema_of_json to_json "
        "from_csv schema_of_csv to_csv".split())),
    "url text": ("take apart or escape URL text; nothing is fetched", frozenset(
        "parse_url try_parse_url try_url_decode url_decode url_encode".split())),
    "date and time": ("calendar arithmetic on their arguments; current_date and the like read the clock", frozenset(
        "add_months convert_timezone curdate current_date current_time current_timestamp current_timezone "
        "date_add date_diff date_format date_from_unix_date date_part date_sub date_trunc dateadd datediff "
        "datepart day dayname dayofmonth dayofweek dayofyear extract from_unixtime from_utc_timestamp hour "
        "last_day localtime localtimestamp make_date make_dt_interval make_interval make_time make_timestamp "
        "make_timestamp_ltz make_timestamp_ntz make_ym_interval minute month monthname months_between next_day "
        "now quarter second session_window time_bucket time_diff time_from_micros time_from_millis "
        "time_from_seconds time_to_micros time_to_millis time_to_seconds time_trunc timestamp_micros "
        "timestamp_millis timestamp_nanos timestamp_seconds to_date to_time to_timestamp to_timestamp_ltz "
        "to_timestamp_ntz to_unix_timestamp to_utc_timestamp trunc try_make_interval try_make_timestamp "
        "try_make_timestamp_ltz try_make_timestamp_ntz try_to_date try_to_time try_to_timestamp unix_date "
        "unix_micros unix_millis unix_nanos unix_seconds unix_timestamp weekday weekofyear window window_time "
        "year".split())),
    "aggregate": ("aggregates over the rows of the query", frozenset(
        "any any_value approx_count_distinct approx_percentile array_agg avg bit_and bit_or bit_xor bool_and "
        "bool_or collect_list collect_set corr count count_if covar_pop covar_samp every first first_value "
        "grouping grouping_id histogram_numeric kurtosis last last_value listagg max max_by mean median min "
        "min_by mode percentile percentile_approx percentile_cont percentile_disc regr_avgx regr_avgy "
        "regr_count regr_intercept regr_r2 regr_slope regr_sxx regr_sxy regr_syy skewness some std stddev "
        "stddev_pop stddev_samp string_agg sum try_avg try_sum var_pop var_samp variance".split())),
    "window": ("ranking and offsets over a window of the query's rows", frozenset(
        "counter_diff cume_dist dense_rank lag lead nth_value ntile percent_rank rank row_number".split())),
    "generators": ("rows made from their arguments (explode ..., stack, range)", frozenset(
        "explode explode_outer inline inline_outer posexplode posexplode_outer stack range".split())),
    "row identity": ("a row's position in the query's partitions", frozenset(
        "monotonically_increasing_id spark_partition_id".split())),
}

# Functions refused on purpose, and why (every other name is refused too, for not being listed).
REFUSED_FUNCTIONS: dict[str, tuple[str, frozenset[str]]] = {
    "reflection": ("calls any static Java method in the driver and executors (environment, files, exit)",
                   frozenset("reflect java_method try_reflect".split())),
    "files": ("names or reads files by path, outside the registered views", frozenset(
        "input_file_name input_file_block_start input_file_block_length read_files".split())),
    "external formats": ("reads descriptor files by path (protobuf), resolves external entities (XML) or "
                         "parses Avro schemas, none of which a query of a model needs", frozenset(
                             "from_protobuf to_protobuf from_xml to_xml schema_of_xml xpath xpath_boolean "
                             "xpath_double xpath_float xpath_int xpath_long xpath_number xpath_short xpath_string "
                             "from_avro to_avro schema_of_avro".split())),
    "process and session": ("tells the process's user, the server's version, the session's catalogs or the "
                            "Python workers' logs", frozenset(
                                "current_user user session_user version current_catalog current_database "
                                "current_schema current_path python_worker_logs collations sql_keywords".split())),
    "keys and sketches": ("takes secret keys in the query text or deserializes binary sketches with "
                          "third-party code, none of which a query of a model needs", frozenset(
                              "aes_encrypt aes_decrypt try_aes_decrypt hmac count_min_sketch".split())),
}

# Bare words that Spark turns into a call when no column has the name (``SELECT current_user``).
_BARE_CALLS = frozenset("current_user user session_user current_catalog current_database current_schema "
                        "current_path".split())

_ALLOWED = {name: group for group, (_, names) in READ_ONLY_FUNCTIONS.items() for name in names}
_REFUSED = {name: group for group, (_, names) in REFUSED_FUNCTIONS.items() for name in names}


class QueryRefused(ValueError):
    """A query that the read-only mode does not run."""


@dataclass(frozen=True)
class PlanNode:
    """One node of a parsed query, as plain data (any parser can build it).

    Attributes:
        kind: the parser's node name, e.g. "Project", "UnresolvedFunction", "UnresolvedRelation".
        plan: True for a logical plan node, False for an expression.
        name: the name parts of what the node names: a function (UnresolvedFunction,
            UnresolvedGenerator, UnresolvedTableValuedFunction), a table (UnresolvedRelation), a
            column (UnresolvedAttribute); for UnresolvedWith, its WITH names in order; else ().
        children: every node held by this one, in field order; for UnresolvedWith, the WITH
            definitions in order, then the query.
    """

    kind: str
    plan: bool = False
    name: tuple[str, ...] = ()
    children: tuple["PlanNode", ...] = ()


def function_refusal(parts) -> str | None:
    """Why a call of the function named ``parts`` (its name parts, e.g. ("reflect",) or
    ("system", "builtin", "reflect")) is refused in read-only mode; None when it is allowed."""
    parts = tuple(parts)
    name = ".".join(parts)
    if len(parts) != 1:
        return f"function {name!r} is qualified: read-only queries call built-in functions by their bare name"
    key = parts[0].lower()
    if key in _REFUSED:
        return f"function {name!r} is refused: it {REFUSED_FUNCTIONS[_REFUSED[key]][0]}"
    if not key.isascii() or key not in _ALLOWED:
        return f"function {name!r} is not one of the functions read-only queries may call"
    return None


def check_tree(node: PlanNode, ctes: frozenset = frozenset()) -> None:
    """Refuse a parsed query (a :class:`PlanNode` tree) that does more than read the views.

    ``ctes``: the WITH names in scope (lower case).

    Raises:
        QueryRefused: naming the first operation, table or function that is not allowed.
    """
    kind, name = node.kind, ".".join(node.name)
    if node.plan and kind not in _READ_ONLY_NODES:
        raise QueryRefused(f"{kind} is not a read-only query operation")
    if kind in ("ExpressionWithUnresolvedIdentifier", "PlanWithUnresolvedIdentifier"):
        raise QueryRefused("IDENTIFIER(...) is not allowed for a function or table name: write the name itself")
    if kind == "UnresolvedRelation" and name.lower() not in VIEWS and name.lower() not in ctes:
        raise QueryRefused(f"table {name!r} is not one of the views {', '.join(VIEWS)}")
    if kind == "UnresolvedTableValuedFunction" and name.lower() not in TABLE_FUNCTIONS:
        raise QueryRefused(f"table function {name!r} is not one of {', '.join(TABLE_FUNCTIONS)}")
    if kind in ("UnresolvedFunction", "UnresolvedGenerator", "UnresolvedTableValuedFunction"):
        why = function_refusal(node.name)
        if why:
            raise QueryRefused(why)
    if kind == "UnresolvedAttribute" and len(node.name) == 1 and name.lower() in _BARE_CALLS:
        raise QueryRefused(f"{name!r} is the function {name.lower()}(), refused: it "
                           f"{REFUSED_FUNCTIONS[_REFUSED[name.lower()]][0]} (a column of that name must be renamed)")
    if kind == "UnresolvedWith":
        names = [n.lower() for n in node.name]
        for i, definition in enumerate(node.children[:len(names)]):
            check_tree(definition, ctes | frozenset(names[:i]))
        check_tree(node.children[len(names)], ctes | frozenset(names))
        return
    for child in node.children:
        check_tree(child, ctes)


# --- the statement's text: a lexer after Spark's, and an allow-list over its tokens ---------

# The first word of a query (or "(", a parenthesised one). Anything else is a command.
QUERY_STARTS = frozenset({"SELECT", "WITH", "VALUES", "FROM", "TABLE"})
# Keywords of the statements that write, which may follow WITH ... or FROM ... (WITH t AS (...)
# INSERT ..., FROM t INSERT ..., ... DELETE FROM, UPDATE, MERGE INTO); refused anywhere unquoted.
_WRITE_KEYWORDS = frozenset({"INSERT", "UPDATE", "DELETE", "MERGE"})
# Keywords that stand before '(' in a query without calling a function: clauses, subqueries,
# window specifications, set operations, alias and type parameter lists. None is a function of
# Spark's registry (tests/spark/test_sql_guard.py holds that), so none lets a call through.
_STRUCTURAL = frozenset(
    "AS ON USING OVER VALUES SELECT FROM WHERE JOIN HAVING BY GROUP WITHIN THEN ELSE ALL DISTINCT UNION "
    "INTERSECT EXCEPT MINUS LATERAL PIVOT UNPIVOT FOR TABLESAMPLE SETS ROLLUP CUBE LIMIT OFFSET "
    "TRY_CAST DEC NUMERIC VARCHAR CHARACTER".split())
# Spark's punctuation outside strings and comments (SqlBaseLexer.g4); any other character is refused.
_PUNCTUATION = frozenset(";(),.[]!=<>+-*/%~&|^:?")
_WHITESPACE = frozenset(" \t\n\r\f\v")  # Spark's ASCII whitespace (it has Unicode spaces too: refused)
_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_WORD = re.compile(r"[A-Za-z0-9_]+")


@dataclass(frozen=True)
class Token:
    """One token of a statement.

    Attributes:
        kind: "word" (a keyword, name or number: ASCII letters, digits, _), "quoted" (a
            `backquoted` identifier), "string" ('..' or R'..'), "dstring" (".."; a string, or an
            identifier when ANSI mode and spark.sql.ansi.doubleQuotedIdentifiers are on),
            "punct" (one character of Spark's punctuation).
        text: the word or punctuation as written; for "quoted", the name (`` `` `` unquoted);
            for strings, the text between the quotes as written (escapes kept).
        start: its offset in the statement.
    """

    kind: str
    text: str
    start: int


def _quoted_end(sql: str, start: int, quote: str, escapes: bool) -> int:
    """The offset after the string or identifier opened by ``sql[start] == quote``; a doubled
    quote stays inside, a backslash escapes the next character when ``escapes``.

    Raises:
        QueryRefused: it is not closed.
    """
    i, n = start + 1, len(sql)
    while i < n:
        c = sql[i]
        if escapes and c == "\\":
            i += 2
        elif c == quote:
            if i + 1 < n and sql[i + 1] == quote:
                i += 2
            else:
                return i + 1
        else:
            i += 1
    raise QueryRefused(f"the {quote}-quoted text at offset {start} is not closed: close it")


def _comment_end(sql: str, start: int) -> int:
    """The offset after the comment at ``start`` ("--" or "/*").

    ``--`` runs to the end of the line, continued by a backslash right before the line feed;
    ``/* */`` nests, and ``/*+`` inside one opens no nested comment (Spark's rules).

    Raises:
        QueryRefused: a /* comment is not closed.
    """
    n = len(sql)
    if sql.startswith("--", start):
        i = start + 2
        while i < n and sql[i] not in "\r\n":
            i += 2 if sql.startswith("\\\n", i) else 1
        return i
    depth, i = 1, start + 2
    while depth:
        if i >= n:
            raise QueryRefused(f"the /* comment at offset {start} is not closed: close it with */")
        if sql.startswith("*/", i):
            depth, i = depth - 1, i + 2
        elif sql.startswith("/*", i) and not sql.startswith("/*+", i):
            depth, i = depth + 1, i + 2
        else:
            i += 1
    return i


def tokenize(sql: str) -> list[Token]:
    """The tokens of ``sql`` as Spark's SQL lexer splits them (comments and spaces dropped).

    Raises:
        QueryRefused: text this lexer does not split the way Spark does, or that it will not
            pass on: an unterminated string, identifier or comment; an optimizer hint (/*+);
            a URI name (``s3://...``); a character outside ASCII or Spark's punctuation outside
            strings, identifiers and comments.
    """
    tokens: list[Token] = []
    i, n = 0, len(sql)
    while i < n:
        c = sql[i]
        if c in _WHITESPACE:
            i += 1
        elif sql.startswith("/*+", i):
            raise QueryRefused(f"optimizer hints (/*+ ... */, offset {i}) are not allowed: remove the hint")
        elif sql.startswith("--", i) or sql.startswith("/*", i):
            i = _comment_end(sql, i)
        elif c == "`":
            end = _quoted_end(sql, i, "`", escapes=False)
            tokens.append(Token("quoted", sql[i + 1:end - 1].replace("``", "`"), i))
            i = end
        elif c in "'\"":
            end = _quoted_end(sql, i, c, escapes=True)
            tokens.append(Token("string" if c == "'" else "dstring", sql[i + 1:end - 1], i))
            i = end
        elif c.isascii() and (c.isalnum() or c == "_"):
            word = _WORD.match(sql, i).group()
            end = i + len(word)
            if word in ("R", "r") and end < n and sql[end] in "'\"":  # a raw string: no escapes
                close = sql.find(sql[end], end + 1)
                if close < 0:
                    raise QueryRefused(f"the raw string at offset {i} is not closed: close it")
                tokens.append(Token("string", sql[end + 1:close], i))  # R".." is a string in every mode
                i = close + 1
                continue
            tokens.append(Token("word", word, i))
            i = end
        elif c in _PUNCTUATION:
            if sql.startswith("://", i):  # Spark lexes letters://... as one name, -- and /* included
                raise QueryRefused(f"'://' at offset {i} makes a URI: queries read only the views embeddings and vocab")
            tokens.append(Token("punct", c, i))
            i += 1
        else:
            raise QueryRefused(f"the character {c!r} (U+{ord(c):04X}) at offset {i} is not allowed outside strings, "
                               "`quoted` names and comments: remove it, or write it inside a string")
    return tokens


def _is_name(token: Token | None) -> bool:
    return token is not None and token.kind in ("word", "quoted", "dstring")


def _dotted(tokens: list[Token], i: int) -> tuple[int, int]:
    """The token range [first, last] of the dotted name (a.b.c) that token ``i`` is part of."""
    first = last = i
    while first >= 2 and tokens[first - 1].text == "." and tokens[first - 1].kind == "punct" \
            and _is_name(tokens[first - 2]):
        first -= 2
    while last + 2 < len(tokens) and tokens[last + 1].text == "." and tokens[last + 1].kind == "punct" \
            and _is_name(tokens[last + 2]):
        last += 2
    return first, last


def _spelled(tokens: list[Token], first: int, last: int) -> str:
    return ".".join(t.text if t.kind == "word" else f"`{t.text}`" for t in tokens[first:last + 1:2])


def check_statement(sql: str) -> None:
    """Refuse a statement whose text is not one query of the views and allowed functions.

    Pure Python (no Spark, no JVM), the same in classic Spark and Spark Connect: ``sql`` is
    split by :func:`tokenize` and its tokens checked against allow-lists (see the comment at
    the head of this section).

    Raises:
        QueryRefused: naming the first thing that is not allowed and how to do without it.
    """
    if "${" in sql:
        raise QueryRefused("${...} is Spark's variable substitution, which pastes configuration, environment "
                           "and system properties into the text: write the value itself, or pass it as a "
                           "named parameter")
    tokens = tokenize(sql)
    while tokens and tokens[-1].kind == "punct" and tokens[-1].text == ";":
        tokens.pop()
    if not tokens:
        raise QueryRefused("the statement is empty: give one SELECT query")
    first = tokens[0]
    if not (first.kind == "word" and first.text.upper() in QUERY_STARTS or first.kind == "punct" and first.text == "("):
        raise QueryRefused(f"{first.text!r} does not start a read-only query (a query starts with "
                           f"{', '.join(sorted(QUERY_STARTS))} or a parenthesis)")
    for i, token in enumerate(tokens):
        before = tokens[i - 1] if i else None
        after = tokens[i + 1] if i + 1 < len(tokens) else None
        upper = token.text.upper()
        if token.kind == "punct":
            if token.text == ";":
                raise QueryRefused("more than one statement (a ';' inside): give one query per --sql")
            continue
        if token.kind == "word" and upper in _WRITE_KEYWORDS:
            raise QueryRefused(f"{token.text} writes: it is not a read-only query")
        if token.kind == "word" and upper == "USING" and not (after and after.kind == "punct" and after.text == "("):
            raise QueryRefused("USING is allowed only as a join's USING (columns): USING 'script' runs a program "
                               "(TRANSFORM), USING format creates a table")
        if not _is_name(token):
            continue
        if token.kind in ("quoted", "dstring") and (
                (before and before.kind == "punct" and before.text == ".") or
                (after and after.kind == "punct" and after.text == ".")):
            start, end = _dotted(tokens, i)
            if not all(_PLAIN_NAME.match(t.text) for t in tokens[start:end + 1:2] if t.kind != "word"):
                raise QueryRefused(f"{_spelled(tokens, start, end)!r} names a file or table by a quoted path: "
                                   "queries read only the views embeddings and vocab")
        calls = after is not None and after.kind == "punct" and after.text == "("
        qualified = before is not None and before.kind == "punct" and before.text == "."
        if calls:
            if token.kind == "word" and upper == "IDENTIFIER":
                raise QueryRefused("IDENTIFIER(...) is not allowed for a function or table name: write the name itself")
            if qualified:
                start, end = _dotted(tokens, i)
                raise QueryRefused(f"function {_spelled(tokens, start, end)!r} is qualified: read-only queries call "
                                   "built-in functions by their bare name")
            if before is not None and before.kind == "word" and before.text.upper() == "AS":
                continue  # an alias's column list or a type's parameters: AS t(a, b), CAST(x AS DECIMAL(9, 2))
            if token.kind == "word" and upper in _STRUCTURAL:
                continue
            why = function_refusal((token.text,))
            if why:
                raise QueryRefused(why)
        elif token.kind in ("word", "quoted") and token.text.lower() in _BARE_CALLS and not qualified and not (
                after is not None and after.kind == "punct" and after.text == "."):
            name = token.text.lower()
            raise QueryRefused(f"{token.text!r} is the function {name}(), refused: it "
                               f"{REFUSED_FUNCTIONS[_REFUSED[name]][0]} (a column of that name must be renamed)")


def check_reads(df, model_files) -> None:
    """Refuse a query (a DataFrame not yet run) that reads a file other than ``model_files``
    (the files of the registered views: ``set(spark.table("embeddings").inputFiles())``).

    The analysed plan's input files (``DataFrame.inputFiles``: Spark Connect and classic) catch
    what the text cannot: a catalog table or view over files, whatever its name.

    Raises:
        QueryRefused: naming a file read outside the model.
    """
    outside = sorted(set(df.inputFiles()) - set(model_files))
    if outside:
        more = f" and {len(outside) - 1} more" if len(outside) > 1 else ""
        raise QueryRefused(f"the query reads {outside[0]!r}{more}, outside the model: queries read only the views "
                           "embeddings and vocab")


def check_read_only(spark, sql: str) -> None:
    """Refuse anything but one query that reads the registered views and table functions.

    Nothing is run. The text is checked first (:func:`check_statement`, pure Python, in every
    mode); then, where the JVM's parser is reachable (classic Spark; not Spark Connect), the
    whole parsed tree too (:func:`parse_tree`, :func:`check_tree`; subqueries, WITH clauses,
    window definitions, lambdas included): every plan node a query operator (no command:
    INSERT, CREATE, CREATE FUNCTION, SET, CACHE, ADD JAR, ...), every table one of the views
    ``embeddings``, ``vocab`` or a WITH name in scope, every table function one of
    ``TABLE_FUNCTIONS``, every function called one of ``READ_ONLY_FUNCTIONS`` (no reflection,
    no file, no process information). The session is told not to run SQL on files
    (``spark.sql.runSQLOnFiles=false``), so ``text.`/etc/passwd``` names a table that does not
    exist whatever the checks make of it.

    Raises:
        QueryRefused: naming what is not allowed.
        Exception: Spark's parse error for SQL that does not parse (classic Spark).
    """
    from .session import is_connect

    check_statement(sql)
    spark.conf.set("spark.sql.runSQLOnFiles", "false")
    if not is_connect(spark):
        check_tree(parse_tree(spark, sql))


_TREE_NODE = "org.apache.spark.sql.catalyst.trees.TreeNode"
_LOGICAL_PLAN = "org.apache.spark.sql.catalyst.plans.logical.LogicalPlan"


def parse_tree(spark, sql: str) -> PlanNode:
    """``sql`` parsed by the session's SQL parser (not analysed, not run), as a PlanNode tree.

    Every field of every node is walked (Scala collections, options and tuples included), so
    that no expression is missed wherever the parser keeps it (window definitions, WITH
    definitions, lambda bodies, table function arguments).

    Raises:
        Exception: Spark's parse error for SQL that does not parse.
    """
    gateway = spark.sparkContext._gateway
    return _to_node(gateway, spark._jsparkSession.sessionState().sqlParser().parsePlan(sql))


def _strings(scala_seq) -> tuple[str, ...]:
    return tuple(str(scala_seq.apply(i)) for i in range(scala_seq.size()))


def _to_node(gateway, obj) -> PlanNode:
    from py4j.java_gateway import is_instance_of

    kind = obj.nodeName()
    plan = is_instance_of(gateway, obj, _LOGICAL_PLAN)
    if kind == "UnresolvedWith":
        pairs = obj.cteRelations()
        pairs = [pairs.apply(i) for i in range(pairs.size())]
        return PlanNode(kind, plan, tuple(str(p._1()) for p in pairs),
                        tuple(_to_node(gateway, p._2()) for p in pairs) + (_to_node(gateway, obj.child()),))
    name: tuple[str, ...] = ()
    if kind in ("UnresolvedFunction", "UnresolvedAttribute"):
        name = _strings(obj.nameParts())
    elif kind == "UnresolvedGenerator":
        name = _strings(obj.name().nameParts())
    elif kind == "UnresolvedTableValuedFunction":
        name = _strings(obj.name())
    elif kind == "UnresolvedRelation":
        name = _strings(obj.multipartIdentifier())
    children: list[PlanNode] = []
    for i in range(obj.productArity()):
        _collect(gateway, obj.productElement(i), children)
    return PlanNode(kind, plan, name, tuple(children))


def _collect(gateway, value, out: list) -> None:
    """Append the tree nodes in ``value`` (a node, or a Scala collection, option or tuple of them)."""
    from py4j.java_gateway import JavaObject, is_instance_of

    if not isinstance(value, JavaObject):
        return
    if is_instance_of(gateway, value, _TREE_NODE):
        out.append(_to_node(gateway, value))
    elif is_instance_of(gateway, value, "scala.collection.Iterable"):
        items = value.iterator()
        while items.hasNext():
            _collect(gateway, items.next(), out)
    elif is_instance_of(gateway, value, "scala.Product"):
        for i in range(value.productArity()):
            _collect(gateway, value.productElement(i), out)


__all__ = ["register", "cosine", "similar_pairs", "check_read_only", "QueryRefused", "model_identity",
           "READ_ONLY_FUNCTIONS", "REFUSED_FUNCTIONS", "PlanNode", "check_tree", "parse_tree", "function_refusal",
           "Token", "tokenize", "check_statement", "check_reads"]
