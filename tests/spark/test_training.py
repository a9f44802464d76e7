"""Spark side: vocabulary and encoding against plain Python, and a small corpus with planted
structure that training must learn."""

from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sparkw2v.config import TrainConfig
from sparkw2v.encode import encode_corpus
from sparkw2v.tokenizer import TOKENS, read_text, tokenize
from sparkw2v.trainer import train
from sparkw2v.vocab import count_vocabulary

pytestmark = pytest.mark.spark


def write_text(path, rows):
    path.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"text": pa.array(rows, pa.string())}), str(path / "part-0.parquet"))
    return str(path)


def test_vocabulary_and_encoding_match_plain_python(spark, tmp_path):
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(40)]
    p = 1 / np.arange(1, 41)
    rows = [" ".join(rng.choice(words, size=rng.integers(1, 30), p=p / p.sum())).upper()
            for _ in range(300)] + [None, "", "   "]
    path = write_text(tmp_path / "t", rows)
    config = TrainConfig(min_count=3)
    tokens = tokenize(read_text(spark, path, "text"), "text", config)
    vocab = count_vocabulary(tokens, TOKENS, min_count=3)
    counts = Counter(t for r in rows if r for t in r.lower().split())
    expected = sorted(((w, c) for w, c in counts.items() if c >= 3), key=lambda x: (-x[1], x[0]))
    assert list(zip(vocab.words, vocab.counts.tolist())) == expected
    assert vocab.corpus_tokens == sum(counts.values())
    assert vocab.corpus_types == len(counts)

    corpus, chunk_words, row_stats = encode_corpus(tokens, vocab.words, num_partitions=3, num_chunks=4)
    try:
        assert corpus.getNumPartitions() == 12
        slots = corpus.glom().collect()
    finally:
        corpus.unpersist()
    assert all(len(records) == 1 for records in slots)  # one (ids, offsets) record per chunk
    for q, [(ids, off)] in enumerate(slots):
        assert chunk_words[q % 3, q // 3] == off[-1] - off[0] == len(ids)
    assert chunk_words.shape == (3, 4) and chunk_words.min() > 0
    index = {w: i for i, w in enumerate(vocab.words)}
    expected_rows = []
    for r in rows:
        ids = [index[t] for t in (r or "").lower().split() if t in index]
        if len(ids) >= 2:
            expected_rows.append(ids)
    got_rows = [ids[off[k]:off[k + 1]].tolist() for [(ids, off)] in slots for k in range(len(off) - 1)]
    assert sorted(got_rows) == sorted(expected_rows)
    assert chunk_words.sum() == sum(len(r) for r in expected_rows)
    assert row_stats == {"rows": len(rows), "null_rows": 1, "empty_rows": 2, "trainable_rows": len(expected_rows)}


def planted_corpus(rng, n_rows=1500):
    """Two topics: rows mix topic words with that topic's context words only."""
    rows = []
    for _ in range(n_rows):
        topic = rng.integers(2)
        vocab = [f"{'ab'[topic]}{i}" for i in range(8)] + [f"ctx{'ab'[topic]}{i}" for i in range(4)]
        rows.append(" ".join(rng.choice(vocab, size=12)))
    return rows


def cosine(W, i, j):
    return float(W[i] @ W[j] / np.linalg.norm(W[i]) / np.linalg.norm(W[j]))


def test_planted_structure_is_learned_and_runs_are_deterministic(spark, tmp_path):
    rng = np.random.default_rng(1)
    path = write_text(tmp_path / "planted", planted_corpus(rng))
    config = TrainConfig(vector_size=16, window=3, negative=4, sample=0.0, min_count=1, epochs=3,
                         alpha=0.05, min_alpha=0.001, num_partitions=2, rounds_per_epoch=3, seed=5)
    seen = []
    result = train(spark, path, config, on_round=seen.append)
    assert len(seen) == 9 and seen[-1]["progress"] == pytest.approx(1.0)
    assert seen[-1]["loss"] < seen[0]["loss"]
    idx = {w: i for i, w in enumerate(result.vocab.words)}
    a = [idx[f"a{i}"] for i in range(8)]
    b = [idx[f"b{i}"] for i in range(8)]
    within = np.mean([cosine(result.W, i, j) for g in (a, b) for i in g for j in g if i < j])
    across = np.mean([cosine(result.W, i, j) for i in a for j in b])
    assert within > across + 0.5, (within, across)
    again = train(spark, path, config)
    np.testing.assert_array_equal(result.W, again.W)
    np.testing.assert_array_equal(result.Wp, again.Wp)


def test_resume_after_a_crash_gives_the_uninterrupted_vectors(spark, tmp_path):
    from sparkw2v import checkpoint
    from sparkw2v.errors import InputError

    rng = np.random.default_rng(6)
    path = write_text(tmp_path / "planted", planted_corpus(rng, 400))
    config = TrainConfig(vector_size=8, window=2, negative=3, sample=0.0, min_count=1, epochs=2,
                         num_partitions=2, rounds_per_epoch=3, seed=9, checkpoint_every=2)
    ckpt = str(tmp_path / "ckpt")

    def crash_after_round_4(info):
        if info["round"] == 4:
            raise KeyboardInterrupt("driver killed")

    with pytest.raises(KeyboardInterrupt):
        train(spark, path, config, on_round=crash_after_round_4, checkpoint_url=ckpt)
    saved = checkpoint.latest(ckpt)
    assert saved.next_round == 4  # round index 4 finished, but the last checkpoint is after 4 rounds
    resumed = train(spark, path, config, checkpoint_url=ckpt, resume=True)
    assert [r["round"] for r in resumed.rounds] == [4, 5]
    straight = train(spark, path, config)
    np.testing.assert_array_equal(resumed.W, straight.W)
    np.testing.assert_array_equal(resumed.Wp, straight.Wp)
    with pytest.raises(InputError, match=r"other settings \(window\)"):
        train(spark, path, config.replace(window=3), checkpoint_url=ckpt, resume=True)
    with pytest.raises(InputError, match="nothing to resume"):
        train(spark, path, config, checkpoint_url=str(tmp_path / "none"), resume=True)


def test_divergence_names_the_round_and_rows(spark, tmp_path):
    from sparkw2v.errors import TrainingDivergedError

    path = write_text(tmp_path / "planted", planted_corpus(np.random.default_rng(6), 400))
    config = TrainConfig(vector_size=8, window=2, negative=3, sample=0.0, min_count=1, epochs=2,
                         num_partitions=2, rounds_per_epoch=3, seed=9, alpha=1.0)
    with pytest.raises(TrainingDivergedError, match=r"training diverged in round 0: \d+ row\(s\) of W hold "
                       r"NaN or Inf \(e\.g\. '\w+'.*lower alpha.*no checkpoint was written"):
        train(spark, path, config)


def test_nan_after_a_round_keeps_the_last_good_checkpoint(spark, tmp_path, monkeypatch):
    """Fault injection on the driver: the combined W' of round 3 gets a NaN row."""
    from sparkw2v import averaging, checkpoint, trainer
    from sparkw2v.errors import TrainingDivergedError

    path = write_text(tmp_path / "planted", planted_corpus(np.random.default_rng(6), 400))
    config = TrainConfig(vector_size=8, window=2, negative=3, sample=0.0, min_count=1, epochs=2,
                         num_partitions=2, rounds_per_epoch=3, seed=9, checkpoint_every=1)
    ckpt = str(tmp_path / "ckpt")
    combine = averaging.combine_rows
    calls = []

    def poisoned(target, updates, gamma):
        rows = combine(target, updates, gamma)
        calls.append(1)
        if len(calls) == 8:  # W, W' per round: the 8th call is W' of round index 3
            target[rows[0]] = np.nan
        return rows

    monkeypatch.setattr(trainer.averaging, "combine_rows", poisoned)
    with pytest.raises(TrainingDivergedError, match=r"round 3: 1 row\(s\) of W' hold NaN or Inf.*"
                       r"last good checkpoint \(after 3 rounds\) is kept in"):
        train(spark, path, config, checkpoint_url=ckpt)
    good = checkpoint.latest(ckpt)
    assert good.next_round == 3 and np.isfinite(good.W).all() and np.isfinite(good.Wp).all()
    monkeypatch.setattr(trainer.averaging, "combine_rows", combine)
    resumed = train(spark, path, config, checkpoint_url=ckpt, resume=True)
    straight = train(spark, path, config)
    np.testing.assert_array_equal(resumed.W, straight.W)
