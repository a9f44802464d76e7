"""One task's epoch of stratified block SGD: the order of strata and the W' ring. No Spark, no I/O.

Task t of T owns the W blocks ``layout.owned_blocks(t, T, P)`` = [a, b) for the whole epoch
and holds b - a W' blocks at a time, at first [a, b). In sub-epoch s it trains, for every
owned block k, the stratum (k, (k + s) mod P). Right after its first stratum it passes that
W' block (a + s) to task t - 1, which needs it next; before its last stratum of the next
sub-epoch it takes block (b + s) from task t + 1. Blocks of one sub-epoch are disjoint, so each
stratum sees exactly the parameters it would see if all strata ran one after another in
sub-epoch order: the result depends on (seed, P, R) only, whatever T is (Gemulla et al. 2011).

How blocks travel between tasks is the caller's (``peer.PeerExchange`` over the network,
``blockstore.FileExchange`` through shared memory or the block store); with T = 1 no block
travels. An exchange may send in the background: ``send`` hands the block over and the task
never touches it again.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Protocol

import numpy as np

from . import kernel
from .layout import BlockLayout, center_negative_rates, context_block, noise_shares, owned_blocks
from .pairs import count_centers, place_shard, plan_block
from .head import Head, train_stratum
from .schedule import Schedule

# A cycle whose mean sampled loss per pair exceeds this many times the starting loss
# ((1 + K) log 2, all scores 0) has diverged, even before anything is NaN or Inf.
LOSS_LIMIT_FACTOR = 8.0


class Exchange(Protocol):
    """Moves W' blocks between neighbouring tasks of one epoch."""

    def send(self, cycle: int, sub_epoch: int, block: int, rows: np.ndarray) -> None:
        """Hand W' block ``block`` to the task that trains with it in (cycle, sub_epoch)."""

    def receive(self, cycle: int, sub_epoch: int, block: int, shape: tuple[int, int]) -> np.ndarray:
        """Wait for W' block ``block`` ((n_j, N) float32) to be trained with in (cycle, sub_epoch)."""

    def receive_copy(self, cycle: int, sub_epoch: int, block: int, shape: tuple[int, int]) -> np.ndarray:
        """As ``receive``, but the rows are this task's own copy in memory (nothing of them is left
        to hand on or remove): for the head's packets (:func:`ring_all_reduce`)."""


@dataclass(frozen=True)
class NoiseTables:
    """The noise distribution restricted to each W' block.

    Attributes:
        prob, alias: per block j, the (K + n_j,) float64 / (K + n_j,) int32 alias table of
            count^0.75 over the local rows [head; block] (K = ``layout.head``, each head word at
            1/P of its weight; K = 0: the block's words).
        shares: (P,) float64, each block's share of the noise mass (``layout.noise_shares``).
    """

    prob: tuple
    alias: tuple
    shares: np.ndarray

    @classmethod
    def build(cls, counts: np.ndarray, layout: BlockLayout, ns_exponent: float = 0.75) -> "NoiseTables":
        """The tables of every block of ``layout``; counts (V,) int64.

        A block whose words all have count 0 (a warm start keeps the earlier model's words that
        the new corpus lacks) gets a uniform table that is never drawn from: its share of the
        noise mass is 0, so no center draws a noise word from it (``layout.center_negative_rates``;
        with a head the table holds the head's words too and is drawn from).

        With a replicated head of K words (``layout.head``) each table covers the local rows
        [head; block]: the head's words with 1/P of their weight (they are noise words in all P
        tables), so over a cycle every word is drawn as count^0.75.
        """
        weights = np.power(np.asarray(counts, np.float64), ns_exponent)
        head = weights[:layout.head] / layout.num_blocks
        prob, alias = [], []
        for j in range(layout.num_blocks):
            w = weights[layout.members(j)]
            if layout.head:
                w = np.concatenate([head, w])
            p, a = kernel.build_alias(w if w.sum() > 0 else np.ones_like(w))
            prob.append(p)
            alias.append(a)
        return cls(tuple(prob), tuple(alias), noise_shares(counts, layout, ns_exponent))


@dataclass
class BlockPairs:
    """The pairs one W block trains in one epoch, in local rows, and its noise words per pair.

    Attributes:
        centers: (n,) int32 local rows of [head; W block]; contexts: (n,) int32 local rows of
            [head; W' block] of their stratum (``~row`` on the first pair of a position).
        bounds: (R, P, 2) int64: the stratum with W' block j in cycle r is ``[bounds[r, j, 0],
            bounds[r, j, 1])``.
        rates: (P, K + n_k) float32 noise words per pair of each center (local row) with each W' block
            (``layout.center_negative_rates``); max_rates: (P,) float32, their maxima.
    """

    centers: np.ndarray
    contexts: np.ndarray
    bounds: np.ndarray
    rates: np.ndarray
    max_rates: np.ndarray

    @classmethod
    def arrange(cls, sources: list[tuple[np.ndarray, np.ndarray, np.ndarray]], cycles: int,
                layout: BlockLayout, block: int, tables: "NoiseTables", negative: int,
                local_rows: bool = False) -> "BlockPairs":
        """Lay out the pairs of one W block from every corpus shard, in shard order, and the
        noise words per pair of its centers.

        Args:
            sources: per shard (in shard order), (centers (n_c,) int32 word ids, contexts
                (n_c,) int32 word ids, counts (P,) int64 pairs per context block), as
                ``pairs.generate_pairs`` gives them for this center block. Emptied as the
                shards are placed, so that they are freed one by one.
            cycles: R.
            layout: the epoch's layout (for the local rows); block: the W block k.
            tables: the noise tables (block shares of noise and contexts).
            negative: K.
            local_rows: the sources hold local rows already (``pairs.to_local_rows``), not ids.
        """
        P = layout.num_blocks
        counts = (np.stack([s[2] for s in sources]).astype(np.int64) if sources
                  else np.zeros((0, P), np.int64))
        bounds, dest = plan_block(counts, cycles)
        total = int(counts.sum())
        out_centers = np.empty(total, np.int32)
        out_contexts = np.empty(total, np.int32)
        local = np.zeros(0, np.int32) if local_rows else layout.local
        for c in range(len(sources)):  # one shard at a time, each dropped once placed
            centers, contexts, _ = sources[c]
            sources[c] = None
            place_shard(centers, contexts, counts[c], cycles, dest[c], local, out_centers, out_contexts)
            del centers, contexts
        n_k = layout.head + layout.size(block)  # local rows: [head; block]
        rates = center_negative_rates(count_centers(out_centers, bounds, n_k), tables.shares, negative)
        max_rates = rates.max(axis=1) if n_k else np.zeros(P, np.float32)
        return cls(out_centers, out_contexts, bounds, rates, max_rates)

    @property
    def pairs(self) -> int:
        return int(self.centers.shape[0])


@dataclass
class EpochReport:
    """What one task did in one epoch (per cycle r and sub-epoch s: arrays (R, P)).

    Attributes:
        task, num_tasks, epoch: which task.
        pairs: int64 pairs trained; loss: float64 summed sampled loss (nats); loss_pairs:
            int64 pairs sampled for it; kernel_seconds: float64 time in the kernel;
            wait_seconds: float64 time waiting for W' blocks from the neighbour.
        bytes_sent, bytes_received: W' block bytes handed over in the ring.
        diverged: None, or {"epoch", "cycle", "task", "reason": "nan" | "loss", "loss" (mean
            sampled nats per pair), "limit", "rows": {matrix: up to 20 word ids}, "row_counts"}.
        aborted: True if the task stopped because another task diverged or failed.
        error: None, or why the task could not read or write its blocks.
        damaged: None, or "block file PATH what differs": a block file of the state the epoch
            starts from is not what its record says (deterministic: never retried).
        blocks: {file name: ``checkpoint.block_record``} of the block files the task wrote.
        timings: seconds spent per phase outside the kernel (load, arrange, write, ...).
        stratum_pairs: {k: (P,) int64} pairs of each owned W block per context block.
        bytes_read, bytes_written: block-store bytes of the epoch's start and end states.
        bytes_peer, bytes_shared_memory: W' bytes this task handed on over the network and
            through shared memory; bytes_ring_store_written, bytes_ring_store_read: W' bytes
            it wrote to and read from the block store for the ring (``ring = "store"`` only).
        head_seconds, head_bytes_sent: seconds in the head's all-reduce (:func:`ring_all_reduce`,
            waiting included) and the bytes of its packets this task sent, over the epoch.
        peak_rss_bytes: the peak resident memory of the Python worker process that ran the
            task, over its life so far (Spark reuses workers: earlier tasks included), in bytes.
    """

    task: int
    num_tasks: int
    epoch: int
    pairs: np.ndarray
    loss: np.ndarray
    loss_pairs: np.ndarray
    kernel_seconds: np.ndarray
    wait_seconds: np.ndarray
    bytes_sent: int = 0
    bytes_received: int = 0
    diverged: dict | None = None
    aborted: bool = False
    error: str | None = None
    damaged: str | None = None
    blocks: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    stratum_pairs: dict = field(default_factory=dict)
    bytes_read: int = 0
    bytes_written: int = 0
    bytes_peer: int = 0
    bytes_shared_memory: int = 0
    bytes_ring_store_written: int = 0
    bytes_ring_store_read: int = 0
    peak_rss_bytes: int = 0
    head_seconds: float = 0.0
    head_bytes_sent: int = 0

    @classmethod
    def empty(cls, task: int, num_tasks: int, epoch: int, cycles: int, num_blocks: int) -> "EpochReport":
        shape = (cycles, num_blocks)
        return cls(task, num_tasks, epoch, np.zeros(shape, np.int64), np.zeros(shape), np.zeros(shape, np.int64),
                   np.zeros(shape), np.zeros(shape))


def peak_rss_bytes() -> int:
    """The peak resident memory of this process so far, in bytes (``getrusage``'s ru_maxrss:
    KiB on Linux, bytes on macOS); 0 where the platform does not tell."""
    try:
        import resource
        import sys
    except ImportError:  # pragma: no cover - not a Unix
        return 0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def ring_all_reduce(exchange: Exchange, task: int, num_tasks: int, cycle: int, sub_epoch: int, num_blocks: int,
                    packet: np.ndarray) -> tuple[np.ndarray, int]:
    """The sum over all tasks of their ``packet`` ((K, C) int64), on every task, over the ring's
    own links (each task sends only to t - 1 and receives only from t + 1).

    Reduce: task T - 1 sends its packet to T - 2, which adds its own and sends on, down to task
    0, which then holds the total; broadcast: task 0 sends the total to T - 1, which passes it on
    down to task 1. 2 (T - 1) hand-overs in sequence; a task sends at most two packets (K C 8
    bytes each), tasks 0 and 1 one. Integer sums: the total is the same bits whatever the
    order, so every task then moves the head identically. Packets travel as float32 rows
    (K, 2 C) (the bytes unchanged) under block ids P + 2 t (reduce, to task t) and P + 2 t + 1
    (broadcast, to task t), which no W' block uses.

    The exchange's own byte counters (``bytes_sent``, ``bytes_peer``, ...) count the packets
    with the W' blocks; this returns the packets' share. A stalled packet times out with the
    exchange's message for "W' block P + 2 t": the stall may be further up the chain than t + 1.

    Returns:
        (total (K, C) int64, bytes this task sent).
    """
    shape = (packet.shape[0], 2 * packet.shape[1])
    sent = 0

    def send(block: int, rows: np.ndarray) -> None:
        nonlocal sent
        exchange.send(cycle, sub_epoch, block, np.ascontiguousarray(rows).view(np.float32))
        sent += rows.nbytes

    def receive(block: int) -> np.ndarray:
        rows = exchange.receive_copy(cycle, sub_epoch, block, shape)
        return np.ascontiguousarray(rows, np.float32).view(np.int64).reshape(packet.shape)

    partial = packet if task == num_tasks - 1 else packet + receive(num_blocks + 2 * task)
    if task > 0:
        send(num_blocks + 2 * (task - 1), partial)
        total = receive(num_blocks + 2 * task + 1)
        if task > 1:
            send(num_blocks + 2 * (task - 1) + 1, total)
    else:
        total = partial
        send(num_blocks + 2 * (num_tasks - 1) + 1, total)
    return total, sent


def merge_pairs(num_blocks: int, window: int) -> int:
    """``kernel.Step.merge`` for P = ``num_blocks`` and ``window``: 0 (a step a position) at
    P = 1, where a position's pairs are all in its one stratum; else window + 1, the mean
    number of pairs of a position at P = 1 (2 b for b uniform on 1..window). At P >= 8 a
    position holds one or two pairs in a stratum, each of which drew its own noise words and
    updated their W' rows: merging up to window + 1 pairs shares them as P = 1 does (measured
    on the real corpus: the kernel at P = 32 from 0.61 to 0.81 of P = 1's pairs/s, faster than
    merging up to 2 window, whose larger steps draw more noise words than most pairs use)."""
    return 0 if num_blocks == 1 else window + 1


def _next_step(cycle: int, sub_epoch: int, num_blocks: int) -> tuple[int, int]:
    return (cycle, sub_epoch + 1) if sub_epoch + 1 < num_blocks else (cycle + 1, 0)


def train_epoch(task: int, num_tasks: int, epoch: int, schedule: Schedule, layout: BlockLayout,
                W: dict[int, np.ndarray], Wp: dict[int, np.ndarray], pairs: dict[int, BlockPairs],
                tables: NoiseTables, window: int, negative: int, exchange: Exchange | None = None,
                on_cycle: Callable[[int, EpochReport], None] | None = None,
                head: Head | None = None) -> EpochReport:
    """Train one epoch of one task, in place.

    Args:
        task, num_tasks: t and T.
        epoch: the epoch (for the learning rate and seeds).
        schedule: epochs, cycles (R), blocks (P), learning rate, seed.
        layout: the epoch's block layout.
        W: owned W blocks, {k: (n_k, N) float32} for k in ``owned_blocks(task, T, P)``; trained
            in place.
        Wp: W' blocks held, {j: (n_j, N) float32}, at first the same keys as W. On return it
            holds the W' blocks this task ends the epoch with (as many, other keys when T > 1).
        pairs: {k: BlockPairs} for the owned blocks.
        tables: the noise tables of every block.
        window: maximum window (2 x window pairs share noise words at most).
        negative: K, for the divergence limit.
        exchange: how W' blocks pass to the neighbours (required when T > 1).
        on_cycle: called with (cycle, report so far) after every cycle.
        head: the replicated head's rows (``layout.head`` words; ``head.Head``), trained by every
            stratum from the same start and combined after every sub-epoch, or every
            ``head.every``-th and the epoch's last (with T > 1 tasks
            through :func:`ring_all_reduce`: every task holds the same head, the one a single
            task would); None without a head.

    Returns:
        EpochReport. When a cycle's mean sampled loss is not finite or above LOSS_LIMIT_FACTOR x
        (1 + K) log 2, or a block holds NaN or Inf, training stops there and ``diverged`` says
        where (the blocks are then unusable).

    Raises:
        blockstore.Aborted (from the exchange): another task diverged.
        ValueError: a head with more tasks than blocks, or one the layout does not replicate.
    """
    P, R = schedule.num_blocks, schedule.cycles
    owned = list(owned_blocks(task, num_tasks, P))
    if num_tasks > 1 and exchange is None:
        raise ValueError("more than one task needs an exchange for the W' blocks")
    if head is not None and num_tasks > P:
        raise ValueError(f"a replicated head needs every one of the {num_tasks} tasks to own a block (the "
                         f"all-reduce goes round all of them), and there are {P} blocks: use at most {P} tasks")
    if layout.head != (0 if head is None else head.size):
        raise ValueError(f"the layout replicates {layout.head} words, the head given holds "
                         f"{0 if head is None else head.size}: pass the Head of the layout's hot_words")
    report = EpochReport.empty(task, num_tasks, epoch, R, P)
    report.stratum_pairs = {k: (pairs[k].bounds[:, :, 1] - pairs[k].bounds[:, :, 0]).sum(axis=0) for k in owned}
    if not owned:
        return report
    loop_start = time.perf_counter()
    d = next(iter(W.values())).shape[1]
    no_counts = np.zeros(0, np.int32)  # the kernel's update counters are for tests only
    limit = LOSS_LIMIT_FACTOR * (1 + negative) * math.log(2.0)
    last = (R - 1, P - 1)
    for r in range(R):
        for s in range(P):
            for idx, k in enumerate(owned):
                j = context_block(k, s, P)
                if j not in Wp:
                    waited = time.perf_counter()
                    Wp[j] = exchange.receive(r, s, j, (layout.size(j), d))
                    report.wait_seconds[r, s] += time.perf_counter() - waited
                    report.bytes_received += Wp[j].nbytes
                a, b = pairs[k].bounds[r, j]
                a0, a1 = schedule.alpha_range(epoch, r, s)
                started = time.perf_counter()
                noise = kernel.Noise(tables.prob[j], tables.alias[j], pairs[k].rates[j], float(pairs[k].max_rates[j]))
                step = kernel.Step(int(a), int(b), a0, a1, np.uint64(schedule.stratum_seed(epoch, r, s, k)), 2 * window,
                                   merge_pairs(P, window))
                loss, loss_pairs, n = train_stratum(head, W[k], Wp[j], pairs[k].centers, pairs[k].contexts, noise,
                                                    step, no_counts, no_counts)
                report.kernel_seconds[r, s] += time.perf_counter() - started
                report.pairs[r, s] += n
                report.loss[r, s] += loss
                report.loss_pairs[r, s] += loss_pairs
                if idx == 0 and num_tasks > 1 and (r, s) != last:
                    nr, ns = _next_step(r, s, P)
                    block = Wp.pop(j)
                    exchange.send(nr, ns, j, block)
                    report.bytes_sent += block.nbytes
                    del block  # gone before the next block arrives
            if head is not None and head.due(last=(r, s) == last):
                if num_tasks > 1:
                    waited = time.perf_counter()
                    total, sent = ring_all_reduce(exchange, task, num_tasks, r, s, P, head.packet())
                    head.absorb(total)
                    report.head_seconds += time.perf_counter() - waited
                    report.head_bytes_sent += sent
                head.combine()
        trouble = _check_cycle(report, r, limit, layout, W, Wp, head)
        if trouble is not None:
            report.diverged = trouble
            return report
        if on_cycle is not None:
            on_cycle(r, report)
    report.timings["train_seconds"] = time.perf_counter() - loop_start
    return report


def _check_cycle(report: EpochReport, cycle: int, limit: float, layout: BlockLayout,
                 W: dict[int, np.ndarray], Wp: dict[int, np.ndarray], head: Head | None = None) -> dict | None:
    """None if the cycle looks sane, else where it went wrong."""
    loss_pairs = int(report.loss_pairs[cycle].sum())
    loss = float(report.loss[cycle].sum()) / max(loss_pairs, 1)
    bad_rows = {}
    for name, blocks, head_rows in (("W", W, None if head is None else head.W),
                                    ("W'", Wp, None if head is None else head.Wp)):
        # NaN and Inf survive a sum: one pass without a temporary, rows only when it fails
        suspect = [(b, rows) for b, rows in sorted(blocks.items()) if not np.isfinite(rows.sum(dtype=np.float32))]
        ids = [layout.members(b)[~np.isfinite(rows).all(axis=1)] for b, rows in suspect]
        if head_rows is not None and not np.isfinite(head_rows.sum(dtype=np.float32)):
            ids.append(np.flatnonzero(~np.isfinite(head_rows).all(axis=1)))
        ids = np.concatenate(ids) if ids else np.zeros(0, np.int64)
        if ids.size:
            bad_rows[name] = ids
    if bad_rows:
        reason = "nan"
    elif not math.isfinite(loss) or loss > limit:
        reason = "loss"
    else:
        return None
    return {"epoch": report.epoch, "cycle": cycle, "task": report.task, "reason": reason, "loss": loss,
            "limit": limit, "rows": {k: v.tolist()[:20] for k, v in bad_rows.items()},
            "row_counts": {k: int(v.size) for k, v in bad_rows.items()}}
