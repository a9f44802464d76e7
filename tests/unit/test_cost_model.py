"""jobs/cost_model.py: the formula's limits and the inputs it reads from runs' metadata, and the
slow fsspec filesystem of jobs/bench_handover.py that stands for HDFS / an object store."""

import argparse
import importlib.util
import json
import time
from pathlib import Path

import numpy as np
import pytest

JOBS = Path(__file__).resolve().parents[2] / "jobs"


def _load(name):
    spec = importlib.util.spec_from_file_location(f"_job_{name}", JOBS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


cm = _load("cost_model")

R, N, V = 16, 2.9e9, 1e6
MODEL = V * 100 * 4
COSTS = {"pair_core_seconds": 100e-9}


def blocks(rate=3e6, balance=1.0):
    return {P: {"kernel_pairs_per_sec": rate, "balance": {X: balance for X in (1, 8, 32, 64, 128)}}
            for P in (1, 8, 16, 32, 64, 128)}


def test_serial_has_no_ring_and_the_kernel_is_n_over_r():
    p = cm.predict(1, 1, R, N, MODEL, 1e9, COSTS, blocks(), handover=5.0, t_job=0.0)
    assert p["ring"] == 0.0
    assert p["kernel"] == pytest.approx(N / 3e6)
    assert p["pairs"] == pytest.approx(N * 100e-9 + 8 * N / 1e9)  # one block of 1M rows: int32 rows, 8 bytes
    assert p["seconds"] == pytest.approx(p["pairs"] + p["kernel"] + p["state"])


def test_free_network_and_perfect_balance_give_linear_speed_up_less_the_fixed_cost():
    serial = cm.predict(1, 1, R, N, MODEL, 1e30, {"pair_core_seconds": 0.0}, blocks(), 0.0, 0.0)
    p = cm.predict(32, 64, R, N, MODEL, 1e30, {"pair_core_seconds": 0.0}, blocks(), 0.0, t_job=0.0)
    assert serial["seconds"] / (32 * p["seconds"]) == pytest.approx(1.0)
    q = cm.predict(32, 64, R, N, MODEL, 1e30, {"pair_core_seconds": 0.0}, blocks(), 0.0, t_job=2.0)
    assert q["seconds"] == pytest.approx(p["seconds"] + 2.0)


def test_ring_is_hidden_while_a_hand_over_is_shorter_than_the_other_blocks_training():
    t_s = N / (64 * 64 * R * 3e6)
    hidden = cm.predict(32, 64, R, N, MODEL, 1e9, COSTS, blocks(), handover=0.99 * t_s, t_job=0.0)
    assert hidden["ring"] == 0.0 and hidden["stratum_ms"] == pytest.approx(t_s * 1e3)
    shown = cm.predict(32, 64, R, N, MODEL, 1e9, COSTS, blocks(), handover=t_s + 0.01, t_job=0.0)
    assert shown["ring"] == pytest.approx(64 * R * 0.01)
    one_block = cm.predict(64, 64, R, N, MODEL, 1e9, COSTS, blocks(), handover=0.01, t_job=0.0)
    assert one_block["ring"] == pytest.approx(64 * R * 0.01)  # B = 1: every hand-over is waited for


def test_hand_over_over_flight_and_through_a_store():
    link = cm.parse_link("10gbit:2:500:1000")
    assert link == {"name": "10gbit", "h0": 0.002, "bw_handover": 5e8, "bw_tcp": 1e9}
    assert cm.handover_seconds(5e6, None, link, 0.001) == pytest.approx(0.002 + 0.01 + 0.001)
    store = cm.parse_store("20:100:2000")
    assert store["h0"] == pytest.approx(0.1) and store["op_ms"] == 20
    # the bytes cross the link twice (up and down) unless the store is slower than that
    assert cm.handover_seconds(5e6, store, link, 0.001) == pytest.approx(0.1 + 0.01)
    slow_store = cm.parse_store("20:100:100")
    assert cm.handover_seconds(5e6, slow_store, link, 0.0) == pytest.approx(0.1 + 0.05)
    with pytest.raises(argparse.ArgumentTypeError, match="expected 3 numbers"):
        cm.parse_link("10gbit:2:500")
    with pytest.raises(argparse.ArgumentTypeError, match="--store"):
        cm.parse_store("20:x:1")


def test_the_heads_all_reduce_costs_a_chain_of_hand_overs_after_every_sub_epoch():
    link = cm.parse_link("10gbit:2:500:1000")
    packet = cm.head_packet_bytes(256, 100)
    assert packet == 256 * 204 * 8
    hop = 0.002 + packet / 5e8 + 0.001
    assert cm.combine_seconds(32, packet, None, link, 0.001, "ring") == pytest.approx(62 * hop)
    assert cm.combine_seconds(32, packet, None, link, 0.001, "doubling") == pytest.approx(10 * hop)
    assert cm.combine_seconds(1, packet, None, link, 0.001, "ring") == 0.0
    assert cm.combine_seconds(32, 0, None, link, 0.001, "ring") == 0.0
    without = cm.predict(32, 64, R, N, MODEL, 1e9, COSTS, blocks(), 0.0, 0.0)
    with_head = cm.predict(32, 64, R, N, MODEL, 1e9, COSTS, blocks(), 0.0, 0.0, combine=0.01)
    assert with_head["combine"] == pytest.approx(64 * R * 0.01)
    assert with_head["seconds"] == pytest.approx(without["seconds"] + 64 * R * 0.01)


def _epoch(seconds, task, train, setup, pairs=1000):
    return {"seconds": seconds, "pairs": pairs, "task_timings_max": {"task_seconds": task, "train_seconds": train,
                                                                    "ring_setup_seconds": setup}}


def test_costs_from_runs_metadata(tmp_path):
    meta = {"corpus": {"epochs": [_epoch(9.0, 5.0, 4.0, 3.0), _epoch(3.0, 2.0, 1.5, 0.1), _epoch(3.4, 2.2, 1.6, 0.3)],
                       "num_tasks": 2, "corpus_tokens": 500},
            "config": {"cycles_per_epoch": 16}}
    (tmp_path / "metadata.json").write_text(json.dumps(meta))
    cluster = cm.cluster_costs(str(tmp_path))  # the first epoch (compiling) left out
    assert cluster["t_job"] == pytest.approx(np.median([1.0, 1.2]))
    assert cluster["ring_setup"] == pytest.approx(0.2)
    costs = cm.spark_costs(str(tmp_path / "metadata.json"), cores=2)
    outside = (9 - 4 - 3) + (3 - 1.5 - 0.1) + (3.4 - 1.6 - 0.3) - 0.9
    assert costs["pair_core_seconds"] == pytest.approx(outside * 2 / 3000)
    assert costs["pairs_per_token"] == pytest.approx(2.0)


def test_slow_filesystem_adds_its_latency_once_per_operation(tmp_path):
    bench = _load("bench_handover")
    bench.slow_filesystem_class(30)
    from sparkw2v.blockstore import BlockStore

    store = BlockStore(f"lat30://{tmp_path}")
    assert not store.local
    started = time.perf_counter()
    assert not store.fs.exists(str(tmp_path / "nothing"))
    one = time.perf_counter() - started
    assert 0.03 <= one < 0.2
    ring = store.exchange("r", 0, 0, 1, 2, timeout=10)
    other = store.exchange("r", 0, 0, 0, 2, timeout=10)
    rows = np.arange(12, dtype=np.float32).reshape(3, 4)
    started = time.perf_counter()
    ring.send(0, 0, 1, rows)  # makedirs, open, mv: three operations
    sent = time.perf_counter() - started
    assert 0.09 <= sent < 0.5
    assert np.array_equal(other.receive(0, 0, 1, (3, 4)), rows)
    assert not list(Path(tmp_path).rglob("*.f32"))  # read and removed, as the ring does
