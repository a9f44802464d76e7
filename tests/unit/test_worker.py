"""One task's epoch: the W' ring between T concurrent tasks gives the single-task result bit for
bit, no block is used by two tasks in one sub-epoch, and divergence is caught."""

import threading

import numpy as np
import pytest

from sparkw2v import kernel, vocab, worker
from sparkw2v.blockstore import Aborted
from sparkw2v.epoch import EpochPlan, Settings
from sparkw2v.head import Head
from sparkw2v.layout import owned_blocks
from sparkw2v.schedule import Schedule


class MemoryExchange:
    """The ring in memory, for tasks running in threads."""

    def __init__(self, box, cond, state):
        self.box, self.cond, self.state = box, cond, state

    def send(self, cycle, sub_epoch, block, rows):
        with self.cond:
            key = (cycle, sub_epoch, block)
            assert key not in self.box, f"block {block} sent twice for {key}"
            self.box[key] = rows.copy()
            self.cond.notify_all()

    def receive(self, cycle, sub_epoch, block, shape):
        key = (cycle, sub_epoch, block)
        with self.cond:
            ok = self.cond.wait_for(lambda: key in self.box or self.state.get("abort"), timeout=60)
            if self.state.get("abort"):
                raise Aborted("stop")
            assert ok, f"waited for {key}"
            rows = self.box.pop(key)
        assert rows.shape == shape
        return rows

    receive_copy = receive


def epoch_inputs(P, R, seed=3, V=300, epoch=0, hot_words=0):
    rng = np.random.default_rng(seed)
    counts = np.sort(rng.integers(5, 5000, size=V))[::-1].astype(np.int64)
    keep = vocab.keep_probabilities(counts, 1e-3)
    shards = []
    for _ in range(3):
        ids = rng.choice(V, size=4000, p=counts / counts.sum()).astype(np.int32)
        shards.append((ids, np.arange(0, 4001, 200, dtype=np.int64)))
    schedule = Schedule(2, R, P, 0.05, 0.001, seed)
    plan = EpochPlan(Settings(schedule, 12, 3, 5, hot_words=hot_words), epoch, counts, keep)
    tables = plan.noise_tables()
    sources = plan.route(shards)
    pairs = {k: plan.arrange(k, sources[k], tables) for k in range(P)}
    W, Wp = plan.initial_blocks(range(P))
    layout = plan.layout
    return schedule, layout, tables, pairs, W, Wp


def run_tasks(P, R, T, epoch=0, record=None, poison=None, store=None, zero_copy=False, hot_words=0,
              combine="clip", every=1):
    """Train one epoch with T tasks in threads; W' blocks pass in memory, or through ``store``'s
    files (``BlockStore.exchange``). With ``hot_words`` each task holds its own copy of the
    replicated head (``head.Head``); ``heads`` returns them."""
    schedule, layout, tables, pairs, W, Wp = epoch_inputs(P, R, epoch=epoch, hot_words=hot_words)
    head_W = kernel.init_rows(np.arange(hot_words), 12, 3)
    heads = {t: Head.start(head_W, np.zeros_like(head_W), P, combine, every) if hot_words else None
             for t in range(T)}
    if poison is not None:
        poison(W)
    box, cond, state = {}, threading.Condition(), {}
    reports, errors, held = {}, [], {}
    run_id = store.new_run() if store is not None else None

    def exchange(t):
        if T == 1:
            return None
        if store is None:
            return MemoryExchange(box, cond, state)
        return store.exchange(run_id, epoch, 0, t, T, timeout=60, same_host=zero_copy)

    def run(t):
        mine = list(owned_blocks(t, T, P))
        Wt = {k: W[k] for k in mine}
        Wpt = {k: Wp[k] for k in mine}
        try:
            reports[t] = worker.train_epoch(t, T, epoch, schedule, layout, Wt, Wpt, {k: pairs[k] for k in mine},
                                            tables, 3, 5, exchange(t), head=heads[t])
            if reports[t].diverged:
                with cond:
                    state["abort"] = True
                    cond.notify_all()
        except Aborted:
            reports[t] = "aborted"
        except Exception as exc:  # pragma: no cover - shown by the assertion below
            errors.append(exc)
        held[t] = Wpt

    threads = [threading.Thread(target=run, args=(t,)) for t in range(T)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors
    Wp_final = {j: np.array(rows) for t in range(T) for j, rows in held[t].items()}
    run_tasks.heads = heads
    return W, Wp_final, reports, box


@pytest.mark.parametrize("P,T", [(4, 2), (5, 3), (6, 6), (8, 3)])
def test_ring_of_tasks_equals_one_task(P, T):
    W1, Wp1, rep1, _ = run_tasks(P, 3, 1)
    WT, WpT, repT, box = run_tasks(P, 3, T)
    assert not box  # every block sent was received
    assert sorted(WpT) == list(range(P))  # every W' block ends with exactly one task
    for k in range(P):
        np.testing.assert_array_equal(W1[k], WT[k])
        np.testing.assert_array_equal(Wp1[k], WpT[k])
    pairs1 = rep1[0].pairs
    pairsT = sum(r.pairs for r in repT.values())
    np.testing.assert_array_equal(pairs1, pairsT)
    assert sum(r.bytes_sent for r in repT.values()) == sum(r.bytes_received for r in repT.values()) > 0


@pytest.mark.parametrize("zero_copy", [False, True])
def test_ring_through_files_equals_one_task(tmp_path, zero_copy):
    """Through the block store's files, copied or handed over by renaming mapped files (one
    host), the W' ring gives the single-task result bit for bit and leaves no block behind."""
    from sparkw2v.blockstore import BlockStore

    store = BlockStore(str(tmp_path / "b"))
    W1, Wp1, _, _ = run_tasks(5, 3, 1)
    WT, WpT, repT, _ = run_tasks(5, 3, 3, store=store, zero_copy=zero_copy)
    for k in range(5):
        np.testing.assert_array_equal(W1[k], WT[k])
        np.testing.assert_array_equal(Wp1[k], WpT[k])
    in_transit = list((tmp_path / "b").rglob("h-*"))
    assert not in_transit, in_transit  # every block sent was received
    held = list((tmp_path / "b").rglob("held-*"))
    assert len(held) == (5 if zero_copy else 0)  # the mapped blocks each task ends with


@pytest.mark.parametrize("P,T,transport,every", [(4, 2, "memory", 1), (5, 3, "memory", 1), (6, 6, "memory", 1),
                                                  (5, 3, "files", 1), (5, 3, "zero_copy", 1), (5, 3, "memory", 4)])
def test_a_head_combined_round_the_ring_equals_one_task(tmp_path, P, T, transport, every):
    """T tasks, each with its own copy of the replicated head, sum their changes to it after
    every sub-epoch (or every 4th and the last) round the ring (``worker.ring_all_reduce``) and
    give the single task's W, W' and head bit for bit, every task the same head; the packets
    leave nothing behind."""
    from sparkw2v.blockstore import BlockStore

    store = None if transport == "memory" else BlockStore(str(tmp_path / "b"))
    W1, Wp1, rep1, _ = run_tasks(P, 3, 1, hot_words=6, every=every)
    head1 = run_tasks.heads[0]
    WT, WpT, repT, box = run_tasks(P, 3, T, hot_words=6, store=store, zero_copy=transport == "zero_copy",
                                   every=every)
    assert not box  # every block and packet sent was received
    for k in range(P):
        np.testing.assert_array_equal(W1[k].view(np.uint32), WT[k].view(np.uint32))
        np.testing.assert_array_equal(Wp1[k].view(np.uint32), WpT[k].view(np.uint32))
    for head in run_tasks.heads.values():
        np.testing.assert_array_equal(head.W.view(np.uint32), head1.W.view(np.uint32))
        np.testing.assert_array_equal(head.Wp.view(np.uint32), head1.Wp.view(np.uint32))
    assert np.isfinite(head1.W).all() and not np.array_equal(head1.W, kernel.init_rows(np.arange(6), 12, 3))
    # each task sends at most two packets a combine (K x (2 N + 4) int64), tasks 0 and 1 one
    packet = 6 * (2 * 12 + 4) * 8
    sent = sorted(r.head_bytes_sent for r in repT.values())
    combines = -(-3 * P // every)  # every n-th sub-epoch of the epoch's R P, and the last
    assert sent == sorted([packet * combines * (1 if t < 2 else 2) for t in range(T)])
    if every > 1:  # combined less often: another run than combining after every sub-epoch
        W_each, _, _, _ = run_tasks(P, 3, 1, hot_words=6)
        assert not all(np.array_equal(W_each[k], W1[k]) for k in range(P))
    assert rep1[0].head_bytes_sent == 0
    if store is not None:
        left = [p.name for p in (tmp_path / "b").rglob("*") if p.is_file() and not p.name.startswith("held-")]
        assert not left, left  # no packet file left in transit or mapped
        assert len(list((tmp_path / "b").rglob("held-*"))) == (P if transport == "zero_copy" else 0)


def test_head_packets_sum_to_the_packet_of_one_task():
    """A packet is the sub-epoch's accumulators; absorbing the sum of two tasks' packets and
    combining moves the head as one task that collected both strata."""
    rng = np.random.default_rng(0)
    start = rng.normal(size=(4, 3)).astype(np.float32)
    one, a, b = (Head.start(start, start, 2, "clip") for _ in range(3))
    for h in (one, a):
        h.work_W[1] += 0.5
        h.touched_W[1] = 1
        h.collect()
    for h in (one, b):
        h.work_W[[1, 3]] -= 0.25
        h.touched_W[[1, 3]] = 1
        h.work_Wp[0] += 1.0
        h.touched_Wp[0] = 1
        h.collect()
    total = a.packet() + b.packet()
    np.testing.assert_array_equal(total, one.packet())
    a.absorb(total)
    a.combine()
    one.combine()
    np.testing.assert_array_equal(a.W, one.W)
    np.testing.assert_array_equal(a.Wp, one.Wp)
    with pytest.raises(ValueError, match=r"\(4, 10\) int64"):
        a.absorb(total[:, :9])


def test_no_block_is_used_by_two_tasks_in_one_sub_epoch(monkeypatch):
    P, T, R = 6, 3, 2
    calls = []
    lock = threading.Lock()
    real = kernel.train_stratum

    def recording(Wk, Wpj, centers, contexts, noise, step, *args):
        with lock:
            calls.append((threading.get_ident(), Wk.ctypes.data, noise.prob.ctypes.data, step.alpha_start))
        return real(Wk, Wpj, centers, contexts, noise, step, *args)

    monkeypatch.setattr(kernel, "train_stratum", recording)
    schedule, layout, tables, pairs, W, Wp = epoch_inputs(P, R)
    # a call writes only rows of the W block and the W' block it is given; a W block is known by
    # its buffer (it never moves), a W' block by its noise table (copies of the block travel,
    # the table stays), a call's (cycle, sub-epoch) by its starting learning rate
    starts = {schedule.alpha_range(0, r, s)[0]: (r, s) for r in range(R) for s in range(P)}
    box, cond, state = {}, threading.Condition(), {}

    def run(t):
        mine = list(owned_blocks(t, T, P))
        worker.train_epoch(t, T, 0, schedule, layout, {k: W[k] for k in mine}, {k: Wp[k] for k in mine},
                           {k: pairs[k] for k in mine}, tables, 3, 5, MemoryExchange(box, cond, state))

    threads = [threading.Thread(target=run, args=(t,)) for t in range(T)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(calls) == R * P * P
    block_of_w = {W[k].ctypes.data: k for k in range(P)}
    block_of_table = {tables.prob[j].ctypes.data: j for j in range(P)}
    by_step = {}
    for tid, w_ptr, table_ptr, a0 in calls:
        by_step.setdefault(starts[a0], []).append((tid, block_of_w[w_ptr], block_of_table[table_ptr]))
    owner_thread = {}
    for (r, s), used in by_step.items():
        assert len(used) == P
        assert sorted(k for _, k, _ in used) == list(range(P))  # every W block once
        assert sorted(j for _, _, j in used) == list(range(P))  # every W' block once: no two tasks share one
        for tid, k, j in used:
            assert j == (k + s) % P
            assert owner_thread.setdefault(k, tid) == tid  # a W block never leaves its task


def test_nan_in_a_block_stops_the_epoch_and_names_rows():
    def poison(W):
        W[1][0, :] = np.nan

    _, _, reports, _ = run_tasks(4, 2, 2, poison=poison)
    bad = [r for r in reports.values() if r != "aborted" and r.diverged]
    assert bad and bad[0].diverged["reason"] == "nan" and bad[0].diverged["cycle"] == 0
    assert bad[0].diverged["row_counts"]["W"] >= 1
    assert all(r == "aborted" or r.diverged for r in reports.values())


def test_exploding_loss_stops_the_epoch(monkeypatch):
    """A finite but huge loss (the symptom of replicas drifting apart, or of a too-large alpha)
    is divergence too."""
    real = kernel.train_stratum

    def exploding(*args):
        loss, loss_pairs, pairs = real(*args)
        return loss * 1e6 + 1e6, loss_pairs, pairs

    monkeypatch.setattr(kernel, "train_stratum", exploding)
    _, _, reports, _ = run_tasks(2, 2, 1)
    d = reports[0].diverged
    assert d["reason"] == "loss" and d["loss"] > d["limit"] == pytest.approx(8 * 6 * np.log(2))


@pytest.mark.parametrize("window", [1, 5, 8])
def test_steps_merge_positions_only_when_blocks_split_them(window):
    """P = 1 trains a step a position (its vectors as before Step.merge); P > 1 merges up to
    window + 1 pairs, a position's mean at P = 1 (2 b, b uniform on 1..window)."""
    assert worker.merge_pairs(1, window) == 0
    b = np.arange(1, window + 1)
    for P in (2, 32, 128):
        assert worker.merge_pairs(P, window) == (2 * b).mean() == window + 1
