"""The W' ring over the network on local[3]: three training tasks owning 2, 2 and 1 of 5 blocks,
each with its Arrow Flight block server on 127.0.0.1, hand blocks to each other (ring = "peer")
and train the vectors of the ring through the work directory (ring = "store"), of the ring
through shared memory (ring = "auto" on a local master) and of the in-process engine bit for bit;
metadata shows the bytes that went peer to peer and none of the ring's in the store. A damaged
block (its checksum altered by the sender, in the first attempt at the first epoch) stops the
epoch with one error naming the sender, and the epoch trained again gives the same bits.

local[3] needs a session of its own, so the runs happen in a child Python (the test session
holds a local[2] one): classic Spark, or a Spark Connect server of its own started by the child
(SPARKW2V_SPARK_MODE=connect)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import spark_mode

# once: the W' ring is executor-side code, the same on both modes (the Connect pass keeps
# test_training.py's bitwise equality with the in-process engine)
pytestmark = [pytest.mark.spark, pytest.mark.once]

REPO = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent("""
    import json, logging, sys
    import numpy as np
    sys.path.insert(0, {repo!r})
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    from sparkw2v.encode import encode_corpus, num_shards, read_shards
    from sparkw2v.local import train_local
    from sparkw2v.session import TEST_CONF, build_session
    from sparkw2v.tokenizer import read_text, tokenize
    from sparkw2v.trainer import train
    from tests.spark.test_training import PLANTED, planted_corpus, write_text
    from pathlib import Path

    out = Path({out!r})
    spark = build_session("sparkw2v-peer-ring", {where}="local[3]",
                          conf={{**TEST_CONF, "spark.default.parallelism": "3"}})
    path = write_text(out / "planted", planted_corpus(np.random.default_rng(7), 800))
    config = PLANTED.replace(num_blocks=5, sample=1e-2, epochs=2)  # 2, 2 and 1 blocks a task
    for ring in {rings!r}:
        result = train(spark, path, config.replace(ring=ring), work_dir=str(out / ("work-" + ring)))
        np.save(out / (ring + "-W.npy"), result.W)
        np.save(out / (ring + "-Wp.npy"), result.Wp)
        (out / (ring + "-stats.json")).write_text(json.dumps(result.stats))
    if {engine!r}:
        tokens = tokenize(read_text(spark, path, "text"), "text", config)
        corpus, _, _ = encode_corpus(tokens, result.vocab.words, num_shards(result.vocab.train_words))
        shards = read_shards(corpus)
        W, Wp, _ = train_local(shards, result.vocab.counts, config, 5)
        np.save(out / "engine-W.npy", W)
        np.save(out / "engine-Wp.npy", Wp)
    spark.stop()
""")

# imported first by every Python of the child's Spark (driver, daemon, workers): task 1
# states a wrong checksum after the bytes of its first W' block of epoch 0, attempt 0
DAMAGE = textwrap.dedent("""
    import sparkw2v.peer as peer
    _put = peer.put_block
    def put_block(client, secret, head, rows, *args, **kwargs):
        if (head["epoch"], head["attempt"], head["sender"], head["cycle"], head["sub_epoch"]) == (0, 0, 1, 0, 1):
            kwargs["checksum"] = "not an XXH3-64 hash"  # never equal to 16 hex digits
        return _put(client, secret, head, rows, *args, **kwargs)
    peer.put_block = put_block
""")


def run_child(out: Path, rings, engine: bool, damage: bool = False) -> subprocess.CompletedProcess:
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable)
    if damage:
        hook = out / "hook"
        hook.mkdir()
        (hook / "sitecustomize.py").write_text(DAMAGE)
        env["PYTHONPATH"] = os.pathsep.join([str(hook), str(REPO), env.get("PYTHONPATH", "")])
    done = subprocess.run([sys.executable, "-c", CHILD.format(repo=str(REPO), out=str(out), rings=list(rings),
                                                              engine=engine,
                                                              where="remote" if spark_mode() == "connect" else "master")],
                          capture_output=True, text=True, timeout=900, env=env, cwd=str(out))
    assert done.returncode == 0, done.stderr[-6000:]
    return done


def load(out: Path, name: str):
    return np.load(out / f"{name}-W.npy"), np.load(out / f"{name}-Wp.npy")


def test_a_ring_over_the_network_trains_the_same_bits_and_writes_no_block_in_transit(tmp_path):
    out = tmp_path / "runs"
    done = run_child(out, ["peer", "store", "auto"], engine=True)
    assert "W' blocks travel over the network (Arrow Flight) between every pair of tasks" in done.stderr
    peer_W, peer_Wp = load(out, "peer")
    for other in ("store", "auto", "engine"):
        W, Wp = load(out, other)
        np.testing.assert_array_equal(peer_W, W)
        np.testing.assert_array_equal(peer_Wp, Wp)
    peer_stats = json.loads((out / "peer-stats.json").read_text())
    store_stats = json.loads((out / "store-stats.json").read_text())
    assert peer_stats["num_tasks"] == 3
    for epoch in peer_stats["epochs"]:
        assert epoch["ring"] == "peer"
        assert epoch["bytes_peer"] == epoch["bytes_ring"] > 0
        assert epoch["bytes_shared_memory"] == 0
        assert epoch["bytes_ring_store_written"] == epoch["bytes_ring_store_read"] == 0
        # the store holds the epoch's states only
        assert epoch["bytes_store_written"] == epoch["bytes_state_written"] > 0
        assert epoch["bytes_store_read"] == epoch["bytes_state_read"]
        assert epoch["wait_seconds_max_task"] >= 0 and "peer_send_seconds" in epoch["task_timings_max"]
    for epoch in store_stats["epochs"]:
        assert epoch["ring"] == "store" and epoch["bytes_peer"] == 0
        assert epoch["bytes_ring_store_written"] == epoch["bytes_ring_store_read"] == epoch["bytes_ring"] > 0
        assert epoch["bytes_store_written"] == epoch["bytes_state_written"] + epoch["bytes_ring"]
    assert [e["bytes_ring"] for e in peer_stats["epochs"]] == [e["bytes_ring"] for e in store_stats["epochs"]]
    auto_stats = json.loads((out / "auto-stats.json").read_text())  # local[3]: shared memory
    assert all(e["ring"] == "shared_memory" and e["bytes_shared_memory"] == e["bytes_ring"] > 0
               for e in auto_stats["epochs"]), auto_stats["epochs"]
    # the tasks find each other through the phone book, not allGather, whose JVM side polls once a
    # second (it cost every task 1.0 s of every epoch); epoch 0 includes the Python workers' start
    assert min(e["task_timings_max"]["ring_setup_seconds"] for e in peer_stats["epochs"][1:]) < 0.9


def test_a_damaged_block_stops_the_epoch_naming_the_sender_and_the_retry_gives_the_same_bits(tmp_path):
    out = tmp_path / "damaged"
    done = run_child(out, ["peer"], engine=True, damage=True)
    retry = [line for line in done.stderr.splitlines() if "attempt 1 failed" in line]
    assert len(retry) == 1, done.stderr[-4000:]
    assert "epoch 1: attempt 1 failed" in retry[0]
    assert "PeerError" in retry[0] and "damaged W' block" in retry[0] and "from task 1 at 127.0.0.1:" in retry[0], retry
    W, Wp = load(out, "peer")
    engine_W, engine_Wp = load(out, "engine")
    np.testing.assert_array_equal(W, engine_W)
    np.testing.assert_array_equal(Wp, engine_Wp)
