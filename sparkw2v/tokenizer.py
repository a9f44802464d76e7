"""Read the Parquet text and split it into tokens with Spark's own RegexTokenizer."""

from __future__ import annotations

from .config import TrainConfig
from .errors import InputError

TOKENS = "tokens"


def read_text(spark, path: str, text_column: str):
    """Read the Parquet input and check its text column.

    Returns:
        DataFrame with the single string column ``text_column``; null rows dropped.

    Raises:
        InputError: the path is missing or holds no Parquet, the column is missing, or it is
            not a string column.
    """
    from pyspark.errors import AnalysisException
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType

    try:
        df = spark.read.parquet(path)
    except AnalysisException as exc:
        reason = str(exc).splitlines()[0]
        if "PATH_NOT_FOUND" in reason or "does not exist" in reason:
            raise InputError(f"input {path!r} does not exist; give a Parquet file or directory "
                             "(jobs/prepare.py makes one from raw text)") from None
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
    return df.select(text_column).where(F.col(text_column).isNotNull())


def tokenize(df, text_column: str, config: TrainConfig):
    """Add nothing but tokens: DataFrame with one array<string> column ``tokens``.

    Uses ``pyspark.ml.feature.RegexTokenizer`` with ``config.token_pattern`` as separator,
    ``config.lowercase`` and ``config.min_token_length``.
    """
    from pyspark.ml.feature import RegexTokenizer

    tokenizer = RegexTokenizer(inputCol=text_column, outputCol=TOKENS, pattern=config.token_pattern,
                               gaps=True, toLowercase=config.lowercase,
                               minTokenLength=config.min_token_length)
    return tokenizer.transform(df).select(TOKENS)
