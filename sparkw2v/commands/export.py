"""python jobs/export.py MODEL_DIR --format projector|word2vec|word2vec-binary --out PATH [--limit N]

Writes a model's word vectors (its ``embeddings`` table, W) for other tools:

- projector: the directory PATH with TensorBoard embedding-projector files (sparkw2v.projector):
  vectors.tsv, metadata.tsv (word and count; tab, newline and backslash escaped as \\t \\n \\\\)
  and projector_config.pbtxt; open them in TensorBoard's projector (a log directory holding
  them) or load the two TSV files at projector.tensorflow.org;
- word2vec / word2vec-binary: the file PATH in the word2vec C tool's text or binary format,
  read by gensim's KeyedVectors.load_word2vec_format (sparkw2v.w2vformat; ``.gz`` compresses).

--limit N keeps the N most frequent words (default: all). An existing PATH (a non-empty
directory for projector) is refused unless --overwrite. Prints what was written as one JSON
line. Needs no Spark session.
"""

from __future__ import annotations

import argparse
import sys

from sparkw2v import cli, storage
from sparkw2v.embeddings import Embeddings
from sparkw2v.errors import InputError, OutputExistsError
from sparkw2v.projector import most_frequent, write_projector
from sparkw2v.w2vformat import save_word2vec_format

FORMATS = ("projector", "word2vec", "word2vec-binary")


def main(argv: list[str] | None = None) -> int:
    parser = cli.ArgumentParser("export", description=__doc__)
    parser.add_argument("model", type=cli.path_arg, metavar="MODEL_DIR",
                        help="model directory written by jobs/train.py")
    parser.add_argument("--format", required=True, choices=FORMATS, help="what to write")
    parser.add_argument("--out", type=cli.path_arg, required=True, metavar="PATH",
                        help="a directory (projector) or a file (word2vec, word2vec-binary)")
    parser.add_argument("--limit", type=cli.int_in(1), metavar="N", help="only the N most frequent words (N >= 1)")
    parser.add_argument("--fvocab", type=cli.path_arg, metavar="FILE",
                        help="word2vec formats: also write the vocabulary with its counts ('word count' per line, "
                        "gensim's fvocab, the C tool's -save-vocab) to FILE")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing --out file (projector: the three files in the directory)")
    parser.add_argument("--remote", metavar="URL", help="(accepted for symmetry with the other jobs; export runs "
                        "no Spark)")
    args = parser.parse_args(argv)
    cli.setup()
    return cli.run("export", lambda: _export(args), interrupted="the output may be incomplete: run it again with "
                   "--overwrite")


def _export(args: argparse.Namespace) -> int:
    storage.check_distinct(args.model, args.out, "--out")
    if args.format != "projector":
        _check_file(args.out, args.overwrite)
        if args.fvocab:
            storage.check_distinct(args.model, args.fvocab, "--fvocab")
            _check_file(args.fvocab, args.overwrite)
    elif args.fvocab:
        raise InputError("--fvocab is for --format word2vec or word2vec-binary; the projector's metadata.tsv "
                         "holds the counts already")
    emb = Embeddings.load(args.model)
    if args.format == "projector":
        result = write_projector(emb, args.out, args.limit, args.overwrite)
    else:
        top = most_frequent(emb, args.limit)
        try:
            with storage.output_errors(f"writing {args.out}", "make it writable or choose another --out"):
                save_word2vec_format(top, args.out, binary=args.format == "word2vec-binary", fvocab=args.fvocab)
        except ValueError as exc:  # a word the format cannot hold
            raise InputError(f"{exc}; export --format projector, which escapes such words") from None
        result = {"out": args.out, "rows": len(top.words), "dimensions": int(top.vectors.shape[1]),
                  **({"fvocab": args.fvocab} if args.fvocab else {})}
    cli.result({"format": args.format, **result})
    return 0


def _check_file(out: str, overwrite: bool) -> None:
    """Refuse a word2vec --out that is a directory, or an existing file without --overwrite.

    Raises:
        InputError, OutputExistsError: naming the path and the fix.
    """
    fs, path = storage.url_to_fs(out)
    if fs.isdir(path):
        raise InputError(f"--out {out!r} is a directory: give the path of a file for the word2vec format")
    if fs.exists(path) and not overwrite:
        raise OutputExistsError(f"--out {out!r} already exists; pass --overwrite to replace it or choose another path")


if __name__ == "__main__":
    sys.exit(main())
