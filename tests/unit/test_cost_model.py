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
    assert p["waits"] == pytest.approx(0.0, abs=1e-6)
    assert p["kernel"] == pytest.approx(N / 3e6)
    assert p["pairs"] == pytest.approx(N * 100e-9 + 8 * N / 1e9)  # one block of 1M rows: int32 rows, 8 bytes
    assert p["seconds"] == pytest.approx(p["pairs"] + p["kernel"] + p["state"])


def test_free_network_and_perfect_balance_give_linear_speed_up_less_the_fixed_cost():
    serial = cm.predict(1, 1, R, N, MODEL, 1e30, {"pair_core_seconds": 0.0}, blocks(), 0.0, 0.0)
    p = cm.predict(32, 64, R, N, MODEL, 1e30, {"pair_core_seconds": 0.0}, blocks(), 0.0, t_job=0.0)
    assert serial["seconds"] / (32 * p["seconds"]) == pytest.approx(1.0)
    q = cm.predict(32, 64, R, N, MODEL, 1e30, {"pair_core_seconds": 0.0}, blocks(), 0.0, t_job=2.0)
    assert q["seconds"] == pytest.approx(p["seconds"] + 2.0)


def test_with_one_block_a_task_every_hand_over_is_waited_for():
    t_s = N / (64 * 64 * R * 3e6)
    p = cm.predict(64, 64, R, N, MODEL, 1e9, COSTS, blocks(), handover=0.01, t_job=0.0)
    # the first sub-epoch starts with the blocks in place; every later one waits for its W' block
    assert p["kernel"] + p["waits"] == pytest.approx(64 * R * t_s + (64 * R - 1) * 0.01)
    assert p["stratum_ms"] == pytest.approx(t_s * 1e3)


def test_with_two_blocks_a_task_a_hand_over_hides_behind_two_strata():
    uniform = np.ones((8, 8)) / 64
    assert cm.critical_path(uniform, 4, 2, 1.0, handover=1.99) == pytest.approx(8 * 2 * 2)
    # sent after the first stratum of sub-epoch s, wanted before the second of s + 1: longer
    # hand-overs stretch each sub-epoch to t_s + h / 2 (two blocks in flight): 2 s for the
    # first, then 5 s for each two of the next 14, and 3 s for the last
    slow = cm.critical_path(uniform, 4, 2, 1.0, handover=3.0)
    assert slow == pytest.approx(2 + 7 * 5 + 3)


def test_a_heavy_stratum_delays_its_task_not_every_task():
    # 4 tasks, 4 blocks, one cycle, free hand-overs; strata (0, 0) and (1, 2) take 5 s, the rest 1 s.
    # (0, 0) trains in sub-epoch 0 and (1, 2) in sub-epoch 1: a barrier after every sub-epoch
    # would take 5 + 5 + 1 + 1 = 12 s. Without one (worker.train_epoch), task 3 waits for W' block 0
    # until 5 s and task 2 for it until 6 s (task 3 trained with it for 1 s), and every task ends at 8 s.
    seconds = np.ones((4, 4))
    seconds[0, 0] = seconds[1, 2] = 5.0
    assert cm.critical_path(seconds / 16, 4, 1, 1.0, handover=0.0) == pytest.approx(8.0)
    barrier = sum(max(seconds[k, (k + s) % 4] for k in range(4)) for s in range(4))
    assert barrier == 12.0
    # one task trains every stratum in order: the sum, whatever the shares
    assert cm.critical_path(seconds / 16, 1, 3, 1.0, handover=9.0) == pytest.approx(3 * seconds.sum())


def test_a_heads_all_reduce_makes_every_task_wait_for_the_slowest():
    seconds = np.ones((4, 4))
    seconds[0, 0] = 5.0
    free = cm.critical_path(seconds / 16, 4, 1, 1.0, handover=0.0)
    # with an all-reduce after every sub-epoch the heavy stratum holds every task back
    assert cm.critical_path(seconds / 16, 4, 1, 1.0, 0.0, combine=0.5) == pytest.approx(5 + 1 + 1 + 1 + 4 * 0.5)
    assert free == pytest.approx(8.0)
    # every 3rd sub-epoch and the last: after sub-epochs 2 and 3
    assert cm.critical_path(np.ones((4, 4)) / 16, 4, 1, 1.0, 0.0, combine=0.5, combine_every=3) == pytest.approx(5.0)
    with pytest.raises(ValueError, match="do not divide"):
        cm.critical_path(np.ones((6, 6)), 4, 1, 1.0, 0.0)


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
    # a stated R is the run's at every P; where the run took the default (0), the trainer's at each P
    assert [cm.cycles_at(0, P, costs) for P in (2, 128)] == [16, 16] and cm.cycles_at(3, 128, costs) == 3
    meta["config"]["cycles_per_epoch"], meta["corpus"]["cycles_per_epoch"] = 0, 16
    (tmp_path / "metadata.json").write_text(json.dumps(meta))
    costs = cm.spark_costs(str(tmp_path / "metadata.json"), cores=2)
    assert [cm.cycles_at(0, P, costs) for P in (2, 64, 128)] == [16, 16, 5] and cm.cycles_at(8, 128, costs) == 8


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


def test_a_hand_overs_cpu_is_taken_from_the_cores_that_train():
    uniform = np.ones((8, 8)) / 64
    # one block a task: each sub-epoch after the first waits for the longer of the hand-over and
    # the task's own share of two hand-overs' CPU (it sends one block and takes one)
    assert cm.critical_path(uniform, 8, 1, 1.0, handover=0.5, handover_cpu=2.0) == pytest.approx(8 + 7 * 2.0)
    assert cm.critical_path(uniform, 8, 1, 1.0, handover=3.0, handover_cpu=2.0) == pytest.approx(8 + 7 * 3.0)
    # two blocks a task, a free hand-over: the CPU alone stretches every sub-epoch after the first
    assert cm.critical_path(uniform, 4, 1, 1.0, handover=0.0, handover_cpu=0.4) == pytest.approx(8 * 2 + 7 * 0.4)
    # one task hands nothing over
    assert cm.critical_path(uniform, 1, 1, 1.0, handover=3.0, handover_cpu=2.0) == pytest.approx(64.0)
    assert cm.handover_cpu_seconds(3e6, cm.parse_cpu("1:300")) == pytest.approx(0.001 + 0.01)


def test_the_cpu_of_a_hand_over_is_measured_on_both_ends():
    out = _load("bench_handover").cpu([0.05, 2.0], repeat=3)
    small, large = out["blocks"]
    assert small["mb"] == pytest.approx(0.05, rel=0.01) and large["mb"] == pytest.approx(2.0, rel=0.01)
    # the checksum of the bytes on both ends, and their copies, at least: a larger block costs more CPU
    assert 0 < small["cpu_s"] < large["cpu_s"]
    assert set(out["fit"]) == {"c0_ms", "bw_cpu_mb_per_s"}


def test_the_model_measures_the_hand_over_cpu_unless_told():
    assert cm.parse_cpu("measure") == "measure" == cm.DEFAULT_CPU
    with pytest.raises(argparse.ArgumentTypeError, match="C0_MS:MB_S or measure"):
        cm.parse_cpu("fast")
    cpu = cm.measure_handover_cpu((0.05, 2.0), repeat=3)
    assert set(cpu) == {"c0", "bw_cpu"} and cpu["c0"] >= 0
    # a hand-over takes more than zero and less than a second of CPU a MB (both ends, XXH3-64, copies, TCP)
    assert 1e6 < cpu["bw_cpu"] < 1e11


def test_kernel_figures_saved_by_one_run_give_another_run_the_same_predictions(tmp_path):
    rng = np.random.default_rng(3)
    measured = {P: {"num_blocks": P, "hot_words": 0, "kernel_pairs_per_sec": 2e6 + P, "balance": {8: 0.9},
                    "strata": rng.integers(1000, 5000, (P, P)).astype(np.float64), "pairs": 0}
                for P in (1, 8, 16)}
    measured[16]["measured_pairs_per_sec"] = 2.5e6  # a --cap-rate run keeps what it measured
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"blocks": cm.saved_blocks(measured)}))
    again = cm.kernel_inputs(str(path), [1, 8], 0)
    assert set(again) == {1, 8} and again[8]["balance"] == {8: 0.9}
    np.testing.assert_array_equal(again[8]["strata"], measured[8]["strata"])
    costs = {"pair_core_seconds": 1e-7}
    args = (8, 8, 4, 1e9, 4e8, 1e9, costs)
    assert cm.predict(*args, again, 0.003, 0.5, handover_cpu=0.002) == cm.predict(*args, measured, 0.003, 0.5,
                                                                                   handover_cpu=0.002)
    assert cm.kernel_inputs(str(path), [16], 0)[16]["kernel_pairs_per_sec"] == 2.5e6
    with pytest.raises(SystemExit, match="no kernel figures and strata for P = 32"):
        cm.kernel_inputs(str(path), [1, 32], 0)
    with pytest.raises(SystemExit, match="measured with --hot-words 0, not 256"):
        cm.kernel_inputs(str(path), [8], 256)
    broken = cm.saved_blocks(measured)
    broken[8]["strata"] = broken[8]["strata"][:4]
    path.write_text(json.dumps({"blocks": broken}))
    with pytest.raises(SystemExit, match=r"P = 8 has strata of shape \(4, 8\)"):
        cm.kernel_inputs(str(path), [8], 0)


def test_stratum_balance_is_the_mean_over_the_max_summed_over_sub_epochs():
    P = 4
    assert cm.stratum_balance(np.full((P, P), 3.0), 4) == pytest.approx(1.0)
    heavy = np.ones((P, P))
    heavy[1, 2] = 5.0  # in sub-epoch 1 (k = 1, j = 2): one task of four trains 5, the others 1
    # one block a task: sub-epoch 1's max is 5, its mean 2; the other three are 1 and 1
    assert cm.stratum_balance(heavy, 4) == pytest.approx((3 * 1 + 2) / (3 * 1 + 5))
    # two blocks a task (W blocks {0, 1} and {2, 3}): sub-epoch 1 gives 1 + 5 = 6 and 2, mean 4
    assert cm.stratum_balance(heavy, 2) == pytest.approx((3 * 2 + 4) / (3 * 2 + 6))
    # more executors than blocks: one block a task
    assert cm.stratum_balance(heavy, 16) == cm.stratum_balance(heavy, 4)
    # uneven ranges: P = 5 on 2 tasks owns W blocks {0, 1} and {2, 3, 4}
    five = np.ones((5, 5))
    five[4, 0] = 4.0  # sub-epoch 1 (k = 4, j = 0): task 1 trains 1 + 1 + 4 = 6, task 0 trains 2
    assert cm.stratum_balance(five, 2) == pytest.approx((4 * 2.5 + 4) / (4 * 3 + 6))
