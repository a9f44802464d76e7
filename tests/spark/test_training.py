"""Spark side: vocabulary and encoding against plain Python, a corpus with planted structure
that training must learn, the Spark trainer against the in-process engine bit for bit, and
checkpoints, resume and divergence."""

from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.sql import Row
from pyspark.sql import functions as F

from sparkw2v.config import TrainConfig
from sparkw2v.encode import encode_corpus, num_shards, read_shards
from sparkw2v.local import train_local
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

    corpus, shard_words, row_stats = encode_corpus(tokens, vocab.words, num_shards=3)
    try:
        assert corpus.select(F.spark_partition_id().alias("q"), "shard").orderBy("q").collect() == [
            Row(q=q, shard=q) for q in range(4)]  # shard q in partition q, the row counts in partition 3
        shards = read_shards(corpus)
    finally:
        corpus.unpersist()
    assert len(shards) == 3  # one (ids, offsets) record per shard
    for q, (ids, off) in enumerate(shards):
        assert shard_words[q] == off[-1] - off[0] == len(ids)
    assert shard_words.min() > 0
    index = {w: i for i, w in enumerate(vocab.words)}
    expected_rows = []
    for r in rows:
        ids = [index[t] for t in (r or "").lower().split() if t in index]
        if len(ids) >= 2:
            expected_rows.append(ids)
    got_rows = [ids[off[k]:off[k + 1]].tolist() for (ids, off) in shards for k in range(len(off) - 1)]
    assert sorted(got_rows) == sorted(expected_rows)
    assert shard_words.sum() == sum(len(r) for r in expected_rows)
    assert row_stats == {"rows": len(rows), "null_rows": 1, "empty_rows": 2, "trainable_rows": len(expected_rows)}


def test_shards_do_not_depend_on_how_spark_splits_the_input(spark, tmp_path):
    """Rows are keyed by file name and row number, so the shards and their order are the same
    whether Spark reads the file in one split or in many."""
    rng = np.random.default_rng(3)
    rows = [" ".join(f"w{i}" for i in rng.integers(0, 30, size=40)) for _ in range(3000)]
    path = tmp_path / "t"
    path.mkdir()
    pq.write_table(pa.table({"text": rows}), str(path / "part-0.parquet"), row_group_size=100)
    config = TrainConfig(min_count=1)
    got = []
    for split in ("128m", "4k"):
        spark.conf.set("spark.sql.files.maxPartitionBytes", split)
        spark.conf.set("spark.sql.files.openCostInBytes", "1k")
        try:
            df = read_text(spark, str(path), "text")
            splits = df.select(F.spark_partition_id().alias("q")).distinct().count()
            tokens = tokenize(df, "text", config)
            vocab = count_vocabulary(tokens, TOKENS, 1)
            corpus, _, _ = encode_corpus(tokens, vocab.words, num_shards=4)
            got.append((splits, [(ids.tolist(), off.tolist()) for ids, off in read_shards(corpus)]))
            corpus.unpersist()
        finally:
            spark.conf.unset("spark.sql.files.maxPartitionBytes")
            spark.conf.unset("spark.sql.files.openCostInBytes")
    assert got[1][0] > 4 * got[0][0]  # many more splits
    assert got[0][1] == got[1][1]


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


PLANTED = TrainConfig(vector_size=16, window=3, negative=4, sample=0.0, min_count=1, epochs=3,
                      alpha=0.05, min_alpha=0.001, num_blocks=4, cycles_per_epoch=2, seed=5)


def test_planted_structure_is_learned_and_runs_are_deterministic(spark, tmp_path):
    rng = np.random.default_rng(1)
    path = write_text(tmp_path / "planted", planted_corpus(rng))
    seen = []
    result = train(spark, path, PLANTED, on_epoch=seen.append)
    assert [e["epoch"] for e in seen] == [0, 1, 2] and result.num_blocks == 4
    assert result.stats["num_tasks"] == 2  # local[2]: two tasks hold two blocks each
    assert len(result.cycles) == 3 * 2 and result.cycles[-1]["progress"] == pytest.approx(1.0)
    # the loss starts at (1 + K) log 2 per pair (W' = 0); a half-epoch already brings it far below
    assert all(c["loss"] < 0.7 * 5 * np.log(2) for c in result.cycles)
    idx = {w: i for i, w in enumerate(result.vocab.words)}
    a = [idx[f"a{i}"] for i in range(8)]
    b = [idx[f"b{i}"] for i in range(8)]
    within = np.mean([cosine(result.W, i, j) for g in (a, b) for i in g for j in g if i < j])
    across = np.mean([cosine(result.W, i, j) for i in a for j in b])
    assert within > across + 0.5, (within, across)
    again = train(spark, path, PLANTED)
    np.testing.assert_array_equal(result.W, again.W)
    np.testing.assert_array_equal(result.Wp, again.Wp)


@pytest.mark.parametrize("num_blocks", [4, 3])
def test_spark_trainer_equals_the_one_task_engine_bit_for_bit(spark, tmp_path, num_blocks):
    """local[2] runs the blocks in two tasks passing W' blocks round a ring through files;
    ``local.train_local`` runs them in one task in this process. The vectors are the same bits:
    the result depends on (seed, P, R), not on the number of tasks."""
    path = write_text(tmp_path / "planted", planted_corpus(np.random.default_rng(7), 800))
    config = PLANTED.replace(num_blocks=num_blocks, sample=1e-2)
    result = train(spark, path, config)
    tokens = tokenize(read_text(spark, path, "text"), "text", config)
    corpus, _, _ = encode_corpus(tokens, result.vocab.words, num_shards(result.vocab.train_words))
    shards = read_shards(corpus)
    corpus.unpersist()
    W, Wp, _ = train_local(shards, result.vocab.counts, config, num_blocks)
    np.testing.assert_array_equal(result.W, W)
    np.testing.assert_array_equal(result.Wp, Wp)


def test_resume_after_a_crash_gives_the_uninterrupted_vectors(spark, tmp_path):
    from sparkw2v.blockstore import BlockStore
    from sparkw2v.errors import InputError

    rng = np.random.default_rng(6)
    path = write_text(tmp_path / "planted", planted_corpus(rng, 400))
    config = TrainConfig(vector_size=8, window=2, negative=3, sample=0.0, min_count=1, epochs=3,
                         num_blocks=2, cycles_per_epoch=2, seed=9, checkpoint_every=1)
    work = str(tmp_path / "blocks")

    def crash_after_epoch_2(info):
        if info["epoch"] == 1:
            raise KeyboardInterrupt("driver killed")

    with pytest.raises(KeyboardInterrupt):
        train(spark, path, config, work_dir=work, on_epoch=crash_after_epoch_2)
    assert BlockStore(work).states() == [2]  # the state after 2 epochs is complete
    resumed = train(spark, path, config, work_dir=work, resume=True)
    assert [c["epoch"] for c in resumed.cycles] == [2, 2] and resumed.stats["epochs_trained"] == 1
    straight = train(spark, path, config)
    np.testing.assert_array_equal(resumed.W, straight.W)
    np.testing.assert_array_equal(resumed.Wp, straight.Wp)
    with pytest.raises(InputError, match=r"other settings \(window \d+ \(now 3\)\)"):
        train(spark, path, config.replace(window=3), work_dir=work, resume=True)
    other = write_text(tmp_path / "other", planted_corpus(np.random.default_rng(60), 400))
    with pytest.raises(InputError, match="made on another corpus"):
        train(spark, other, config, work_dir=work, resume=True)
    with pytest.raises(InputError, match="nothing to resume"):
        train(spark, path, config, work_dir=str(tmp_path / "none"), resume=True)


def test_divergence_names_the_epoch_cycle_and_rows(spark, tmp_path):
    from sparkw2v.errors import TrainingDivergedError

    path = write_text(tmp_path / "planted", planted_corpus(np.random.default_rng(6), 400))
    config = TrainConfig(vector_size=8, window=2, negative=3, sample=0.0, min_count=1, epochs=2,
                         num_blocks=2, cycles_per_epoch=2, seed=9, alpha=1.0)
    with pytest.raises(TrainingDivergedError, match=r"training diverged in epoch 1, cycle 1: (\d+ row\(s\) of W'? "
                       r"hold NaN or Inf \(e\.g\. '\w+'|the SGNS loss reached .* above the limit).*lower alpha"
                       r".*no checkpoint was written"):
        train(spark, path, config)


def test_divergence_keeps_the_last_good_checkpoint(spark, tmp_path, monkeypatch):
    """A task reporting divergence in epoch 2 (fault injected into its report): training stops
    with the state after epoch 1 kept, and a resume from it equals the uninterrupted run."""
    from sparkw2v import trainer
    from sparkw2v.blockstore import BlockStore
    from sparkw2v.errors import TrainingDivergedError

    path = write_text(tmp_path / "planted", planted_corpus(np.random.default_rng(6), 400))
    config = TrainConfig(vector_size=8, window=2, negative=3, sample=0.0, min_count=1, epochs=3,
                         num_blocks=2, cycles_per_epoch=2, seed=9, checkpoint_every=1)
    work = str(tmp_path / "blocks")
    real = trainer._run_epoch_with_retries

    def poisoned(sc, corpus, job, *args):
        reports = real(sc, corpus, job, *args)
        if job.epoch == 1:
            reports[1].diverged = {"epoch": 1, "cycle": 1, "task": 1, "reason": "nan", "loss": float("nan"),
                                   "limit": 20.0, "rows": {"W'": [0, 3]}, "row_counts": {"W'": 2}}
        return reports

    monkeypatch.setattr(trainer, "_run_epoch_with_retries", poisoned)
    with pytest.raises(TrainingDivergedError, match=r"epoch 2, cycle 2: 2 row\(s\) of W' hold NaN or Inf .*"
                       r"last good checkpoint \(after 1 epoch\(s\)\) is kept in"):
        train(spark, path, config, work_dir=work)
    assert BlockStore(work).states() == [1]
    monkeypatch.setattr(trainer, "_run_epoch_with_retries", real)
    resumed = train(spark, path, config, work_dir=work, resume=True)
    straight = train(spark, path, config)
    np.testing.assert_array_equal(resumed.W, straight.W)


SPARK_JOB_ABORTED = ("An error occurred while calling z:org.apache.spark.api.python.PythonRDD.collectAndServe.\n: "
                     "org.apache.spark.SparkException: Job aborted due to stage failure: Could not recover from a "
                     "failed barrier ResultStage. ")


def failing_epochs(monkeypatch, error: str) -> list:
    """Make every epoch's Spark job fail with ``error`` (the text of py4j's exception, as a task's
    failure gives it); returns the list of the attempts made, filled as they are made."""
    from sparkw2v import trainer

    attempts = []

    def failing(sc, pairs, job, *args):
        attempts.append(job.attempt)
        raise RuntimeError(SPARK_JOB_ABORTED + error)

    monkeypatch.setattr(trainer, "_run_epoch", failing)
    return attempts


def test_an_epoch_whose_tasks_keep_dying_fails_with_one_clear_error(spark, tmp_path, monkeypatch):
    """Spark aborts a barrier job whose task dies (a Python worker killed for memory, say); the
    driver trains the epoch again from its start, and after the last attempt says what failed
    and what each task holds."""
    from sparkw2v.errors import TrainingFailedError

    path = write_text(tmp_path / "planted", planted_corpus(np.random.default_rng(6), 400))
    attempts = failing_epochs(monkeypatch, "Most recent failure reason: Stage failed because barrier task "
                              "ResultTask(21, 1) finished unsuccessfully.\norg.apache.spark.SparkException: Python "
                              "worker exited unexpectedly (crashed). Consider setting ...")
    config = TrainConfig(vector_size=8, window=2, min_count=1, epochs=1, num_blocks=2, sample=0.0)
    with pytest.raises(TrainingFailedError, match=r"epoch 1 failed 4 times \(org.apache.spark.SparkException: Python "
                       r"worker exited unexpectedly.*run out of memory: each of the 2 training tasks holds about "
                       r"0.0 GiB of W and W' blocks"):
        train(spark, path, config)
    assert attempts == [0, 1, 2, 3]  # a fresh attempt directory each time


def test_a_task_that_meets_a_damaged_block_fails_the_epoch_once_not_as_memory(spark, tmp_path, monkeypatch):
    """A CheckpointError raised in a task (e.g. by a reader's size check) fails the barrier job
    in Spark; the driver does not train the epoch again (the same bytes would fail the same way)
    and does not blame memory."""
    from sparkw2v.errors import CheckpointError

    path = write_text(tmp_path / "planted", planted_corpus(np.random.default_rng(6), 400))
    attempts = failing_epochs(monkeypatch, "\n  File \"blockstore.py\", line 340, in _read_rows\n"
                              "sparkw2v.errors.CheckpointError: block file /w/state-000001/W-00001.npy holds 100 "
                              "bytes, not the 228 of its header's (25, 1) float32 array (truncated or appended to)"
                              "\n\tat ...")
    config = TrainConfig(vector_size=8, window=2, min_count=1, epochs=1, num_blocks=2, sample=0.0)
    with pytest.raises(CheckpointError, match=r"^the checkpoint after 0 epoch\(s\) in .* is damaged: block file "
                       r"/w/state-000001/W-00001.npy holds 100 bytes, not the 228 .*\(truncated or appended to\); "
                       r"train afresh with --overwrite \(without --resume\)$") as info:
        train(spark, path, config)
    assert attempts == [0] and "memory" not in str(info.value)
