"""The ``sparkw2v`` command's subcommands, one module each, each with ``main(argv) -> exit status``.

``sparkw2v SUBCOMMAND ...`` (or ``python -m sparkw2v SUBCOMMAND ...``) runs one on local Spark
or against the cluster ``--master`` names, or through ``--remote``; ``spark-submit`` takes a
module's file (``jobs/*.py`` are the same entry points in a checkout).
"""

from __future__ import annotations

import importlib

# subcommand -> (module, one line of help)
SUBCOMMANDS = {
    "prepare": ("prepare", "raw text -> Parquet rows of text (no Spark)"),
    "train": ("train", "train SGNS embeddings on Parquet text -> a model directory"),
    "evaluate": ("evaluate", "analogy and similarity benchmarks, nearest neighbours of a model"),
    "query": ("query", "read-only Spark SQL over a model's views and w2v functions"),
    "report": ("report", "PNG plots and an HTML page of a training run (needs the 'report' extra)"),
    "export": ("export", "embedding-projector (TensorBoard) or word2vec files of a model"),
}


def load(name: str):
    """The module of subcommand ``name`` (KeyError if there is none)."""
    module, _ = SUBCOMMANDS[name]
    return importlib.import_module(f"{__name__}.{module}")
