"""Read the Parquet text and split it into tokens with Spark's own RegexTokenizer."""

from __future__ import annotations

import contextlib
import re

from .config import TrainConfig
from .errors import InputError

TOKENS = "tokens"
# Boolean column beside TOKENS: the row's text was null (such rows are skipped and counted).
NULL_FLAG = "text_is_null"


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
        what = "is not a Parquet file" if kind == "CANNOT_READ_FILE_FOOTER" else "is corrupt or not Parquet"
        raise InputError(
            f"input {path!r}: file {bad} {what}; remove or replace it (jobs/prepare.py turns raw "
            "text into Parquet), or set spark.sql.files.ignoreCorruptFiles=true to skip such files"
        ) from None


def read_text(spark, path: str, text_column: str):
    """Read the Parquet input and check its text column.

    Returns:
        DataFrame with the single string column ``text_column`` (nulls kept: :func:`tokenize`
        turns them into empty rows and flags them, so that they are counted).

    Raises:
        InputError: the path is missing or holds no Parquet, the column is missing, or it is
            not a string column.
    """
    from pyspark.errors import AnalysisException
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType

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
    return df.select(text_column)


def tokenize(df, text_column: str, config: TrainConfig):
    """DataFrame with the array<string> column ``tokens`` and the boolean ``text_is_null``.

    Uses ``pyspark.ml.feature.RegexTokenizer`` with ``config.token_pattern`` as separator,
    ``config.lowercase`` and ``config.min_token_length``; a null text becomes no tokens.
    """
    from pyspark.ml.feature import RegexTokenizer
    from pyspark.sql import functions as F

    flagged = df.select(F.coalesce(F.col(text_column), F.lit("")).alias(text_column),
                        F.col(text_column).isNull().alias(NULL_FLAG))
    tokenizer = RegexTokenizer(inputCol=text_column, outputCol=TOKENS, pattern=config.token_pattern,
                               gaps=True, toLowercase=config.lowercase,
                               minTokenLength=config.min_token_length)
    return tokenizer.transform(flagged).select(TOKENS, NULL_FLAG)
