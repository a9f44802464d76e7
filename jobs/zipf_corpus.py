"""python jobs/zipf_corpus.py --output PARQUET [--tokens 20000000] [--types 5000000] [--exponent 1.05]

Writes a synthetic corpus for vocabulary-scale benchmarks: ``tokens`` words drawn independently
from a Zipf distribution over ``types`` word types (P(rank r) ~ r^-exponent), as Parquet with one
string column ``text``, ``--row-tokens`` words a row, in files of ``--file-tokens`` words, with
bounded memory. Word r is spelled ``w<r>``, so every type is a distinct token of the
default tokenizer. The same arguments and seed give the same files.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from sparkw2v import storage

def spell(ranks: np.ndarray) -> np.ndarray:
    """(n,) int64 ranks -> (n,) bytes words ``w<rank>``."""
    return np.char.add(b"w", ranks.astype("S20"))


def write_corpus(output: str, tokens: int, types: int, exponent: float, seed: int, row_tokens: int = 1000,
                 file_tokens: int = 10_000_000) -> dict:
    """Write the corpus; returns {"tokens", "rows", "files", "distinct_types", "seconds"}.

    Raises:
        OutputExistsError: ``output`` exists.
    """
    start = time.perf_counter()
    storage.prepare_output(output, overwrite=False, kind="corpus")
    fs, path = storage.url_to_fs(output)
    cdf = np.cumsum(np.power(np.arange(1, types + 1, dtype=np.float64), -exponent))
    cdf /= cdf[-1]
    rng = np.random.default_rng(seed)
    seen = np.zeros(types, bool)
    rows = files = 0
    for first in range(0, tokens, file_tokens):
        n = min(file_tokens, tokens - first)
        ranks = np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), types - 1)
        seen[ranks] = True
        words = spell(ranks)
        texts = [b" ".join(words[i:i + row_tokens]).decode("ascii") for i in range(0, n, row_tokens)]
        rows += len(texts)
        pq.write_table(pa.table({"text": pa.array(texts, pa.string())}),
                       storage.join(fs, path, f"part-{files:05d}.parquet"), filesystem=fs)
        files += 1
    storage.mark_complete(output)
    return {"tokens": tokens, "rows": rows, "files": files, "distinct_types": int(seen.sum()),
            "seconds": round(time.perf_counter() - start, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", required=True)
    parser.add_argument("--tokens", type=int, default=20_000_000)
    parser.add_argument("--types", type=int, default=5_000_000)
    parser.add_argument("--exponent", type=float, default=1.05)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--row-tokens", type=int, default=1000)
    args = parser.parse_args()
    print(json.dumps(write_corpus(args.output, args.tokens, args.types, args.exponent, args.seed, args.row_tokens)))


if __name__ == "__main__":
    main()
