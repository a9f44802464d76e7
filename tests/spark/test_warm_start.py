"""Warm start (``train --init-from MODEL``): the vocabulary grows as gensim's
``build_vocab(update=True)``, the run equals the one-task engine started from the model's
vectors bit for bit, it starts from what the model learned, resumes from its start state, and
refuses what it cannot continue in one line without touching the user's model."""

import json
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sparkw2v import kernel
from sparkw2v.config import TrainConfig
from sparkw2v.embeddings import Embeddings
from sparkw2v.encode import encode_corpus, num_shards, read_shards
from sparkw2v.local import train_local
from sparkw2v.pipeline import train_model_dir
from sparkw2v.tokenizer import read_text, tokenize
from tests.jobs_util import load_job, run_job

pytestmark = pytest.mark.spark

CONFIG = TrainConfig(vector_size=12, window=3, negative=4, sample=0.0, min_count=3, epochs=2,
                     alpha=0.05, min_alpha=0.001, num_blocks=3, cycles_per_epoch=2, seed=4)


def write_text(path, rows):
    path.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"text": pa.array(rows, pa.string())}), str(path / "part-0.parquet"))
    return str(path)


def topic_rows(rng, topics, n_rows, extra=()):
    rows = []
    for _ in range(n_rows):
        t = topics[rng.integers(len(topics))]
        rows.append(" ".join(rng.choice([f"{t}{i}" for i in range(8)], size=10)))
    return rows + list(extra)


@pytest.fixture(scope="module")
def earlier(spark, tmp_path_factory):
    """A model trained on topics a and b (and the word "fading", seen 5 times)."""
    base = tmp_path_factory.mktemp("warm")
    old = write_text(base / "old", topic_rows(np.random.default_rng(1), "ab", 300, ["fading x y"] * 5))
    train_model_dir(spark, old, str(base / "A"), CONFIG.replace(min_count=1))
    return base, str(base / "A")


def expected_start(model, words, config):
    """W and W' a warm start begins from, by the new vocabulary's ids."""
    ids = np.arange(len(words), dtype=np.int64)
    W = kernel.init_rows(ids, config.vector_size, config.seed)
    Wp = np.zeros_like(W)
    for matrix, table in ((W, "embeddings"), (Wp, "context_embeddings")):
        old = Embeddings.load(model, table)
        for i, w in enumerate(words):
            if w in old:
                matrix[i] = old[w]
    return W, Wp


def test_warm_start_equals_the_one_task_engine_started_from_the_model(spark, earlier):
    base, model = earlier
    # the new text: topic b again, a new topic c, "fading" twice (< min_count), "rare" twice (new,
    # < min_count: left out), topic a and "x"/"y" not at all
    new = write_text(base / "new", topic_rows(np.random.default_rng(2), "bc", 300, ["fading rare c1 b1"] * 2))
    summary = train_model_dir(spark, new, str(base / "B"), CONFIG, init_from=model)
    a, b = Embeddings.load(model), Embeddings.load(str(base / "B"))
    assert summary["vocab_size"] == len(b) == len(a) + 8  # every earlier word, and c0..c7
    assert set(a.words) <= set(b.words) and "rare" not in b and "c3" in b
    new_counts = dict(zip(b.words, b.counts.tolist()))
    assert new_counts["a0"] == new_counts["x"] == 0 and new_counts["fading"] == 2  # counts of the new text
    assert list(b.counts) == sorted(b.counts, reverse=True)  # ids by the new counts
    meta = json.load(open(base / "B" / "metadata.json"))
    assert meta["init_from"].pop("start_state_seconds") > 0
    assert meta["init_from"] == {"model": model, "model_words": len(a), "new_words": 8,
                                 "model_words_unseen": 10, "model_words_rare": 1}  # a0..a7, x, y; fading

    config = TrainConfig(**meta["config"]).replace(num_blocks=3)
    tokens = tokenize(read_text(spark, new, "text"), "text", config)
    corpus, _, _ = encode_corpus(tokens, b.words, num_shards(int(b.counts.sum())))
    shards = read_shards(corpus)
    corpus.unpersist()
    W, Wp, _ = train_local(shards, b.counts, config, 3, start=expected_start(model, b.words, config))
    np.testing.assert_array_equal(b.vectors, W)
    np.testing.assert_array_equal(Embeddings.load(str(base / "B"), "context_embeddings").vectors, Wp)
    for w in [f"a{i}" for i in range(8)] + ["x", "y"]:  # not in the new text: not trained
        np.testing.assert_array_equal(b[w], a[w])

    # the run starts from what the model learned: its first cycle's loss is below a fresh run's
    fresh = train_model_dir(spark, new, str(base / "fresh"), CONFIG)
    assert fresh["vocab_size"] == 16
    first = meta["cycles"][0]["loss"]
    fresh_first = json.load(open(base / "fresh" / "metadata.json"))["cycles"][0]["loss"]
    assert first < 0.9 * fresh_first, (first, fresh_first)  # 1.62 against 2.00 (half the text is new words)


def test_a_warm_start_interrupted_in_its_first_epoch_resumes_from_the_model_s_vectors(spark, earlier, monkeypatch):
    from sparkw2v import trainer
    from sparkw2v.blockstore import BlockStore

    base, model = earlier
    new = write_text(base / "new2", topic_rows(np.random.default_rng(3), "bd", 200))
    work = str(base / "work")
    real = trainer._run_epoch_with_retries

    def killed(*args, **kwargs):
        raise KeyboardInterrupt("driver killed")

    monkeypatch.setattr(trainer, "_run_epoch_with_retries", killed)
    with pytest.raises(KeyboardInterrupt):
        trainer.train(spark, new, CONFIG, work_dir=work, init_from=model)
    assert BlockStore(work).states() == [0]  # the start state is a checkpoint
    monkeypatch.setattr(trainer, "_run_epoch_with_retries", real)
    resumed = trainer.train(spark, new, CONFIG, work_dir=work, resume=True, init_from=model)
    straight = trainer.train(spark, new, CONFIG, init_from=model)
    assert resumed.stats["epochs_trained"] == 2
    np.testing.assert_array_equal(resumed.W, straight.W)
    np.testing.assert_array_equal(resumed.Wp, straight.Wp)


def tree(path):
    return {os.path.join(r, f): open(os.path.join(r, f), "rb").read() for r, _, fs in os.walk(path) for f in fs}


def test_what_a_warm_start_cannot_continue_is_refused_in_one_line(spark, earlier, capsys):
    base, model = earlier
    job = load_job("train")
    new = write_text(base / "new3", topic_rows(np.random.default_rng(4), "b", 100))
    before = tree(model)
    flags = ["--num-blocks", "2", "--epochs", "1", "--min-count", "1"]

    code, line = run_job(job, capsys, "--input", new, "--output", str(base / "C"), "--init-from", model,
                         "--vector-size", "20", *flags)
    assert code == 2 and "vector_size 12" in line and "--vector-size 12" in line, line
    code, line = run_job(job, capsys, "--input", new, "--output", str(base / "C"), "--init-from",
                         str(base / "nothing"), *flags)
    assert code == 2 and "nothing" in line, line
    code, line = run_job(job, capsys, "--input", new, "--output", model, "--init-from", model, *flags)
    assert code == 2 and "--overwrite" in line, line
    code, line = run_job(job, capsys, "--input", new, "--output", os.path.join(model, "inner"), "--init-from",
                         model, *flags)
    assert code == 2 and "lies inside" in line, line
    assert tree(model) == before and not os.path.exists(os.path.join(model, "inner.partial"))

    # a damaged earlier model (a NaN in a vector) is named, not trained from
    damaged = base / "damaged"
    os.system(f"cp -r {model} {damaged}")
    part = sorted((damaged / "context_embeddings").glob("*.parquet"))[0]
    table = pq.read_table(part)
    vectors = table.column("vector").to_pylist()
    vectors[0][3] = float("nan")
    pq.write_table(table.set_column(3, table.schema.field("vector"), pa.array(vectors, table.schema.field("vector").type)),
                   part)
    code, line = run_job(job, capsys, "--input", new, "--output", str(base / "C"), "--init-from", str(damaged),
                         *flags, "--vector-size", "12")
    assert code == 2 and "NaN" in line and str(damaged) in line, line
    assert not os.path.exists(base / "C") and not os.path.exists(base / "C.partial")

    # a word twice in one table, a word missing from the other: named, not trained from
    for name, table, change, says in (("twice", "embeddings", lambda t: pa.concat_tables([t, t.slice(0, 1)]),
                                       "distinct words"),
                                      ("missing", "context_embeddings", lambda t: t.slice(1), "holds")):
        bad = base / name
        os.system(f"cp -r {model} {bad}")
        part = sorted((bad / table).glob("*.parquet"))[0]
        pq.write_table(change(pq.read_table(part)), part)
        code, line = run_job(job, capsys, "--input", new, "--output", str(base / "C"), "--init-from", str(bad),
                             *flags, "--vector-size", "12")
        assert code == 2 and says in line and str(bad) in line and "damaged" in line, line
        assert not os.path.exists(base / "C") and not os.path.exists(base / "C.partial")

    # a model continued in place: replaced only once the continuation is complete
    inplace = str(base / "inplace")
    os.system(f"cp -r {model} {inplace}")
    code, line = run_job(job, capsys, "--input", new, "--output", inplace, "--init-from", inplace, "--overwrite",
                         *flags, "--vector-size", "12")
    assert code == 0 and line is None
    assert set(Embeddings.load(inplace).words) == set(Embeddings.load(model).words)
    assert json.load(open(os.path.join(inplace, "metadata.json")))["init_from"]["model"] == inplace


def test_a_model_continued_in_place_resumes_with_resume_and_overwrite(spark, earlier, monkeypatch):
    """--output equal to --init-from with --overwrite: the model is read for the start state and
    replaced only by the complete continuation; interrupted, the run resumes with --resume
    --overwrite (the earlier model, still complete in place, does not stop it) and gives the
    vectors of an uninterrupted warm start."""
    from sparkw2v import trainer
    from sparkw2v.errors import InputError

    base, model = earlier
    new = write_text(base / "new4", topic_rows(np.random.default_rng(5), "be", 200))
    inplace = str(base / "inplace2")
    os.system(f"cp -r {model} {inplace}")
    straight = train_model_dir(spark, new, str(base / "straight"), CONFIG, init_from=inplace)
    real = trainer._run_epoch_with_retries
    calls = []

    def killed_in_epoch_2(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt("driver killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(trainer, "_run_epoch_with_retries", killed_in_epoch_2)
    before = tree(inplace)
    with pytest.raises(KeyboardInterrupt):
        train_model_dir(spark, new, inplace, CONFIG, init_from=inplace, overwrite=True)
    assert tree(inplace) == before  # the earlier model is untouched until the continuation is complete
    monkeypatch.setattr(trainer, "_run_epoch_with_retries", real)
    with pytest.raises(InputError, match="a fresh start"):  # the checkpoint knows it began from the model
        train_model_dir(spark, new, inplace, CONFIG, overwrite=True, resume=True)
    train_model_dir(spark, new, inplace, CONFIG, init_from=inplace, overwrite=True, resume=True)
    assert straight["vocab_size"] == len(Embeddings.load(inplace))
    for table in ("embeddings", "context_embeddings"):
        np.testing.assert_array_equal(Embeddings.load(inplace, table).vectors,
                                      Embeddings.load(str(base / "straight"), table).vectors)


def test_paths_with_glob_characters_are_read_literally(spark, earlier):
    """Spark's readers take [ ] { } * ? in a path as a glob: the earlier model's tables and the
    run's ids file (under the output) are read by their literal names."""
    base, model = earlier
    odd = str(base / "model[1]")
    os.system(f"cp -r {model} '{odd}'")
    os.makedirs(base / "model1", exist_ok=True)  # what "model[1]" would match as a pattern
    new = write_text(base / "new5", topic_rows(np.random.default_rng(6), "b", 100))
    summary = train_model_dir(spark, new, str(base / "out{a}[2]"), CONFIG, init_from=odd)
    assert summary["vocab_size"] == len(Embeddings.load(model))
    assert (base / "out{a}[2]" / "_SUCCESS").exists()
