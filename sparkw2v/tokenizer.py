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


def quote(name: str) -> str:
    """A column name as Spark SQL reads it literally: in backquotes, backquotes doubled."""
    return "`" + name.replace("`", "``") + "`"


def check_token_pattern(spark, pattern: str) -> None:
    """Compile ``token_pattern`` with the JVM's regex engine, which RegexTokenizer uses.

    Raises:
        ConfigError: naming the pattern and the engine's complaint.
    """
    from .errors import ConfigError

    try:
        spark.sparkContext._jvm.java.util.regex.Pattern.compile(pattern)
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
