"""Raw text files -> Parquet rows of text, with bounded memory.

Every line becomes a row; a line longer than ``row_tokens`` whitespace-separated tokens (a
text8-style corpus is one 100 MB line) is cut into rows of ``row_tokens`` tokens, so no more
than one read block plus one row is ever held in memory.
"""

from __future__ import annotations

import codecs
import errno
import logging
import os
import re
from typing import Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from . import storage
from .errors import InputError, OutputWriteError

log = logging.getLogger(__name__)

TEXT_SCHEMA = pa.schema([pa.field("text", pa.string(), nullable=False)])
_SPACE = re.compile(r"\s+")


def list_input_files(url: str) -> list[str]:
    """The files to read: ``url`` itself, or every non-hidden file below the directory ``url``.

    Raises:
        InputError: the path does not exist or the directory holds no files.
    """
    fs, path = storage.url_to_fs(url)
    if not fs.exists(path):
        raise InputError(f"input {url!r} does not exist; give a text file or a directory of them")
    if fs.isdir(path):
        files = sorted(
            p for p in fs.find(path)
            if not any(part.startswith((".", "_")) for part in p[len(path):].split("/") if part)
        )
        if not files:
            raise InputError(f"input directory {url!r} holds no files")
        return [fs.unstrip_protocol(p) for p in files]
    return [url]


def iter_rows(url: str, row_tokens: int = 1000, block_bytes: int = 1 << 20) -> Iterator[str]:
    """Yield the rows of one text file (plain, .gz or .bz2, by extension).

    A line of at most ``row_tokens`` tokens is one row (whitespace normalised to single
    spaces); a longer line is cut into rows of ``row_tokens`` tokens; empty lines are skipped.
    A UTF-8 byte-order mark at the start of the file is dropped (elsewhere U+FEFF is text).

    Raises:
        InputError: the file is not valid UTF-8 (the message gives the byte offset).
    """
    import fsspec

    decoder = codecs.getincrementaldecoder("utf-8-sig")("strict")  # "-sig": the BOM at the start only
    pending: list[str] = []   # tokens of the current line not yet emitted
    partial = ""             # text after the last whitespace of the last block
    consumed = 0
    with fsspec.open(url, "rb", compression="infer") as fh:
        while True:
            try:
                block = fh.read(block_bytes)
            except (OSError, EOFError) as exc:  # not gzip / bz2, or cut short
                raise InputError(f"{url!r} cannot be decompressed ({exc or type(exc).__name__}); "
                                 "is it a complete file of the type its name says?") from None
            final = not block
            try:
                text = decoder.decode(block, final=final)
            except UnicodeDecodeError as exc:
                raise InputError(
                    f"{url!r} is not valid UTF-8 near byte {consumed + exc.start} of the "
                    "uncompressed text; convert it to UTF-8 (e.g. iconv) before preparing it"
                ) from None
            consumed += len(block)
            text = partial + text
            lines = text.split("\n")
            if final:
                partial = ""
            else:
                last = lines.pop()
                # keep only the unfinished last token of the unfinished last line
                cut = max(last.rfind(" "), last.rfind("\t"), last.rfind("\r"))
                partial = last[cut + 1:]
                tail_tokens = last[:cut + 1].split()
            for line in lines:
                pending.extend(line.split())
                yield from _flush(pending, row_tokens, line_end=True)
            if final:
                break
            pending.extend(tail_tokens)
            yield from _flush(pending, row_tokens, line_end=False)


def _flush(pending: list[str], row_tokens: int, line_end: bool) -> Iterator[str]:
    start = 0
    while len(pending) - start >= row_tokens:
        yield " ".join(pending[start:start + row_tokens])
        start += row_tokens
    if line_end and start < len(pending):
        yield " ".join(pending[start:])
        start = len(pending)
    del pending[:start]


def prepare_text(input_url: str, output_url: str, row_tokens: int = 1000,
                 rows_per_file: int = 4096, overwrite: bool = False) -> dict:
    """Convert raw text under ``input_url`` into Parquet part files under ``output_url``.

    The output directory gets ``part-NNNNN.parquet`` files with one string column ``text``
    and ``_SUCCESS`` last.

    Returns:
        dict with files read, rows and tokens written.

    The corpus is written to ``output_url.partial`` and renamed into place when complete
    (``storage.Staging``): an existing output is replaced only then, and only with
    ``overwrite`` and if its ``_sparkw2v.json`` marker says it is a sparkw2v corpus.

    Raises:
        InputError: missing input, input and output overlap, invalid UTF-8, or no text at all.
        OutputExistsError: the output exists and ``overwrite`` is False, or it is not sparkw2v's.
        OutputWriteError: the output's filesystem refused a part (full disk, ...); the
            unfinished corpus is removed.
    """
    files = list_input_files(input_url)
    storage.check_distinct(input_url, output_url)
    staging = storage.Staging(output_url, "corpus", overwrite=overwrite)
    partial = staging.begin()
    fs, out = storage.url_to_fs(partial)
    try:
        try:
            stats = _write_parts(files, fs, out, row_tokens, rows_per_file, output_url)
        except BaseException:
            storage.remove_quietly(fs, out)
            raise
        if stats["rows"] == 0:
            storage.remove_quietly(fs, out)
            raise InputError(f"input {input_url!r} holds no text (all files empty or whitespace)")
        staging.commit()
    finally:
        staging.release()
    return {"files": len(files), **stats}


def write_failed(output_url: str, exc: OSError) -> OutputWriteError:
    """The error of a part file the output's filesystem refused, naming the output and the fix.

    ``exc.errno`` (pyarrow sets it too) tells a full disk from another refusal."""
    code = exc.errno
    if code in (errno.ENOSPC, errno.EDQUOT):
        reason, fix = "the disk is full" if code == errno.ENOSPC else "the disk quota is exceeded", \
            "free some space or choose an --output on a disk with room"
    else:
        reason = os.strerror(code) if code else (" ".join(str(exc).split()) or type(exc).__name__)
        fix = "fix the output's filesystem or choose another --output"
    return OutputWriteError(f"writing the corpus to {output_url!r} failed: {reason}; nothing was kept (the "
                            f"unfinished corpus is removed): {fix}, then run it again")


def _write_parts(files: list[str], fs, out: str, row_tokens: int, rows_per_file: int,
                 output_url: str = "") -> dict:
    rows_total = tokens_total = 0
    part = 0
    batch: list[str] = []

    def write(batch: list[str], part: int) -> None:
        table = pa.table({"text": pa.array(batch, pa.string())}, schema=TEXT_SCHEMA)
        tmp = storage.join(fs, out, f"_tmp-part-{part:05d}.parquet")
        try:
            pq.write_table(table, tmp, filesystem=fs, row_group_size=1024)
            fs.mv(tmp, storage.join(fs, out, f"part-{part:05d}.parquet"))
        except OSError as exc:
            raise write_failed(output_url or out, exc) from None

    for url in files:
        log.info("reading %s", url)
        for row in iter_rows(url, row_tokens):
            batch.append(row)
            tokens_total += row.count(" ") + 1
            if len(batch) >= rows_per_file:
                write(batch, part)
                rows_total += len(batch)
                part += 1
                batch = []
    if batch:
        write(batch, part)
        rows_total += len(batch)
        part += 1
    return {"rows": rows_total, "tokens": tokens_total, "parts": part}
