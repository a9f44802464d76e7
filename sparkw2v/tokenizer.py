"""Read the Parquet text and split it into tokens with Spark's own RegexTokenizer."""

from __future__ import annotations

import contextlib
import re

from .config import TrainConfig
from .errors import InputError

TOKENS = "tokens"
# Boolean column beside TOKENS: the row's text was null (such rows are skipped and counted).
NULL_FLAG = "text_is_null"
# Integer column beside TOKENS: which piece of its input row this is (0: the first; see below).
PIECE = "piece"
# Columns beside TOKENS that name a row whatever Spark's split of the input: the name of its
# file (string; null for a DataFrame that was not read from files) and its number in the file
# (long; Spark's row id for such a DataFrame). The encoder deals rows to shards and orders them
# by these (``encode.encode_corpus``).
ROW_FILE = "row_file"
ROW_INDEX = "row_index"
# A text longer than this many characters is cut into pieces of this length before it is
# tokenized, so that one huge row (say 50 MB) never needs its millions of tokens in one JVM
# array at once. A cut may split one word into two tokens: one word per ~150,000.
MAX_ROW_CHARS = 1_000_000


_FAILED_FILE = re.compile(r"\[FAILED_READ_FILE\.(\w+)\][^\n]*?reading file (\S+?)\.?(?:\s|$)")


@contextlib.contextmanager
def input_errors(path: str):
    """Turn Spark's failure to read one input file into an InputError naming the file.

    Spark reports a file that is not Parquet, or is corrupt, when it first reads it: at
    schema inference (its footer) or in the first job that scans it.

    Raises:
        InputError: from a Spark error [FAILED_READ_FILE.*]; other errors pass unchanged.
    """
    try:
        yield
    except Exception as exc:  # py4j's Py4JJavaError or pyspark's own exceptions
        match = _FAILED_FILE.search(str(exc))
        if match is None:
            raise
        kind, bad = match.groups()
        if kind == "PARQUET_COLUMN_DATA_TYPE_MISMATCH":
            detail = re.search(r"column (\S+)\. Expected Spark type \"?([\w<>]+)\"?, actual Parquet type "
                               r"\"?([\w<>]+)\"?", str(exc))
            what = (f"has column {detail.group(1)} of Parquet type {detail.group(3)}, where the other files have "
                    f"{detail.group(2).lower()}" if detail else "has a column of another type than the other files")
            raise InputError(f"input {path!r}: file {bad} {what}: every file must have the same schema; remove "
                             "or rewrite that file") from None
        what = "is not a Parquet file" if kind == "CANNOT_READ_FILE_FOOTER" else "is corrupt or not Parquet"
        raise InputError(
            f"input {path!r}: file {bad} {what}; remove or replace it (jobs/prepare.py turns raw "
            "text into Parquet), or set spark.sql.files.ignoreCorruptFiles=true to skip such files"
        ) from None


def read_text(spark, path: str, text_column: str):
    """Read the Parquet input and check its text column.

    Returns:
        DataFrame with the string column ``text_column`` (nulls kept: :func:`tokenize` turns them
        into empty rows and flags them, so that they are counted), ``row_file`` and
        ``row_index``: each row's file name and row number (Parquet's ``_metadata``; the file's
        name, not its path, so the same files elsewhere give the same corpus).

    Raises:
        InputError: the path is missing or holds no Parquet, the column is missing, or it is
            not a string column.
    """
    from pyspark.errors import AnalysisException
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType

    if any(c in path for c in "*?[]{}"):
        raise InputError(f"input {path!r} holds glob characters (*?[]{{}}), which Spark reads as patterns: give "
                         "the directory that holds the files, or rename it")
    try:
        with input_errors(path):
            df = spark.read.parquet(path)
            df.schema  # resolved here (Spark Connect resolves a read lazily): its errors are caught below
    except AnalysisException as exc:
        reason = str(exc).splitlines()[0]
        if "PATH_NOT_FOUND" in reason or "does not exist" in reason:
            raise InputError(f"input {path!r} does not exist; give a Parquet file or directory "
                             "(jobs/prepare.py makes one from raw text)") from None
        if "UNABLE_TO_INFER_SCHEMA" in reason or "Unable to infer schema" in reason:
            raise InputError(f"input {path!r} holds no Parquet files; give a Parquet file or "
                             "directory (jobs/prepare.py makes one from raw text)") from None
        raise InputError(f"cannot read Parquet input {path!r}: {reason}") from None
    except Exception as exc:  # py4j: Hadoop's path and filesystem errors
        text = str(exc)
        scheme = re.search(r'No FileSystem for scheme "?([\w.+-]+)"?', text)
        if scheme:
            raise InputError(f"Spark cannot read input {path!r}: it knows no filesystem for the scheme "
                             f"{scheme.group(1)!r} (add its Hadoop connector, or give a path Spark reads)") from None
        if "URISyntaxException" in text or "Relative path in absolute URI" in text:
            raise InputError(f"input {path!r} is not a path Spark can read (a ':' in a local path is read as a "
                             "URL scheme): give an absolute path or a file: URL, or rename it") from None
        raise
    check_every_file(spark, path, df.inputFiles(), text_column)
    if text_column not in df.columns:
        raise InputError(
            f"input {path!r} has no column {text_column!r}; its columns are {df.columns}: pass "
            "the text column with --text-column"
        )
    dtype = df.schema[text_column].dataType
    if not isinstance(dtype, StringType):
        raise InputError(
            f"column {text_column!r} of {path!r} has type {dtype.simpleString()}, not string: "
            "pass a string column with --text-column"
        )
    # backquoted: a column name with a dot is a name, not a struct field
    return df.select(F.col(quote(text_column)).alias(text_column), F.col("_metadata.file_name").alias(ROW_FILE),
                     F.col("_metadata.row_index").alias(ROW_INDEX))


def check_every_file(spark, path: str, files: list[str], text_column: str) -> None:
    """Every Parquet file of the input must hold ``text_column`` as a string column, as Spark
    would otherwise read a file without it as nulls (its rows dropped, the run "successful").

    Reads each file's schema from its footer (pyarrow through fsspec, several at a time; Spark's
    Parquet reader for a scheme fsspec does not know), before training. When no file
    has the column, or none has it as a string, the checks of :func:`read_text` name the
    problem for the whole input; here, files that differ from the others are named.

    Raises:
        InputError: naming the first file without the column (or with another type) and the fix.
    """
    if len(files) < 2:
        return
    sensitive = str(spark.conf.get("spark.sql.caseSensitive", "false")).lower() == "true"
    want = text_column if sensitive else text_column.lower()
    schemas = {url: columns for url, columns in file_schemas(spark, files).items() if columns is not None}
    found = {url: _find_column(columns, want, sensitive) for url, columns in schemas.items()}
    missing = [url for url in files if url in found and found[url] is None]
    if missing and len(missing) < len(found):
        raise InputError(
            f"input {path!r}: file {missing[0]} has no column {text_column!r} ({len(missing)} of {len(found)} files "
            f"lack it), which the other files have: every file must have the text column (Spark would read its "
            "rows as nulls and drop them); remove or rewrite that file")
    typed = {url: kind for url, kind in found.items() if kind is not None}
    other = [url for url in files if url in typed and not _is_string(typed[url])]
    if other and len(other) < len(typed):
        raise InputError(
            f"input {path!r}: file {other[0]} has column {text_column!r} of type {typed[other[0]]}, where the other "
            "files have string: every file must have the same schema; remove or rewrite that file")


def _find_column(columns: dict[str, str], want: str, sensitive: bool) -> str | None:
    for name, kind in columns.items():
        if (name if sensitive else name.lower()) == want:
            return kind
    return None


def _is_string(kind: str) -> bool:
    return kind in ("string", "large_string", "binary", "large_binary") or kind.startswith("dictionary<values=string")


def file_schemas(spark, files: list[str], threads: int = 8) -> dict[str, dict[str, str] | None]:
    """{file: {top-level column: its Arrow type}} from each Parquet file's footer (None for a
    file whose footer cannot be read).

    pyarrow through fsspec reads them, ``threads`` at a time; a file it cannot read (a scheme
    only Hadoop knows, other credentials, a damaged file) is read again by Spark
    (:func:`_spark_columns`)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(threads, len(files))) as pool:
        schemas = dict(zip(files, pool.map(_arrow_columns, files)))
    return {url: columns if columns is not None else _spark_columns(spark, url) for url, columns in schemas.items()}


def _arrow_columns(url: str) -> dict[str, str] | None:
    """{column: Arrow type} of one Parquet file's footer; None when it cannot be read (not
    Parquet, truncated): Spark's own read reports such a file, naming it, or skips it under
    spark.sql.files.ignoreCorruptFiles."""
    import fsspec
    import pyarrow.parquet as pq

    try:
        fs, inner = fsspec.core.url_to_fs(url)
        schema = pq.read_schema(inner, filesystem=fs)
    except Exception:  # unknown scheme, no credentials, not Parquet (pyarrow's ArrowInvalid), ...
        return None
    return {field.name: str(field.type) for field in schema}


def _spark_columns(spark, url: str) -> dict[str, str] | None:
    """Like :func:`_arrow_columns`, read by Spark (any Hadoop filesystem it knows; classic or
    Spark Connect alike): the schema Spark infers from the file's footer, as Arrow names the
    types the check tells apart (``string``, ``binary``; others by Spark's name)."""
    from pyspark.sql.types import BinaryType, StringType

    try:
        schema = spark.read.parquet(url).schema
    except Exception:  # not Parquet, truncated, unreadable: Spark's own read of the input names it
        return None
    return {field.name: "string" if isinstance(field.dataType, StringType) else
            "binary" if isinstance(field.dataType, BinaryType) else field.dataType.simpleString()
            for field in schema.fields}


def quote(name: str) -> str:
    """A column name as Spark SQL reads it literally: in backquotes, backquotes doubled."""
    return "`" + name.replace("`", "``") + "`"


def check_token_pattern(spark, pattern: str) -> None:
    """Compile ``token_pattern`` with the JVM's regex engine, which RegexTokenizer uses: Spark
    SQL's ``split`` of an empty string by it (java.util.regex, as RegexTokenizer; folded on the
    driver, no job), classic or Spark Connect alike.

    Raises:
        ConfigError: naming the pattern and the engine's complaint.
    """
    from .errors import ConfigError

    try:
        spark.sql("SELECT split('', :pattern) AS pieces", args={"pattern": pattern}).collect()
    except Exception as exc:
        lines = [line for line in str(exc).splitlines() if "PatternSyntaxException" in line or "near index" in line]
        detail = " ".join(lines[0].split(":", 2)[-1].split()) if lines else "it does not compile"
        raise ConfigError(f"config key 'token_pattern' has invalid value {pattern!r}: it must be a Java "
                          f"regular expression ({detail})") from None


def tokenize(df, text_column: str, config: TrainConfig, max_row_chars: int = MAX_ROW_CHARS):
    """DataFrame with the array<string> column ``tokens``, the boolean ``text_is_null``, the
    int ``piece`` (rows longer than ``max_row_chars`` characters become several pieces), and
    ``row_file`` and ``row_index`` (``read_text``'s, else null and Spark's row id).

    Uses ``pyspark.ml.feature.RegexTokenizer`` with ``config.token_pattern`` as separator,
    ``config.lowercase`` and ``config.min_token_length``; a null text becomes no tokens.
    """
    from pyspark.ml.feature import RegexTokenizer
    from pyspark.sql import functions as F

    check_token_pattern(df.sparkSession, config.token_pattern)
    text = F.coalesce(F.col(quote(text_column)), F.lit(""))
    count = F.ceil(F.length(text) / F.lit(max_row_chars))
    pieces = F.when(F.length(text) <= max_row_chars, F.array(text)).otherwise(
        F.transform(F.sequence(F.lit(0), count - 1),
                    lambda i: F.substring(text, i * max_row_chars + 1, F.lit(max_row_chars))))
    row_file = F.col(ROW_FILE) if ROW_FILE in df.columns else F.lit(None).cast("string")
    row_index = F.col(ROW_INDEX) if ROW_INDEX in df.columns else F.monotonically_increasing_id()
    flagged = df.select(F.posexplode(pieces).alias(PIECE, "_text"),
                        F.col(quote(text_column)).isNull().alias(NULL_FLAG), row_file.alias(ROW_FILE),
                        row_index.alias(ROW_INDEX))
    tokenizer = RegexTokenizer(inputCol="_text", outputCol=TOKENS, pattern=config.token_pattern,
                               gaps=True, toLowercase=config.lowercase,
                               minTokenLength=config.min_token_length)
    return tokenizer.transform(flagged).select(TOKENS, NULL_FLAG, PIECE, ROW_FILE, ROW_INDEX)
