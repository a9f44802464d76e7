"""The driver: vocabulary, encoding, then one Spark job per epoch of stratified block SGD.

Per epoch (Gemulla et al. 2011; ``../shared/docs/scaleout.md``):

1. **pairs** -- every corpus shard subsamples its rows afresh, draws its windows and buckets its
   (center, context) pairs by stratum (block of the center, block of the context); Spark routes
   each center block's pairs to the task that owns that W block (a shuffle);
2. **blocks** -- one gang-scheduled (barrier) stage of T tasks trains the P blocks through R
   cycles of P sub-epochs; in sub-epoch s the W block k meets the W' block (k + s) mod P, and
   the tasks pass W' blocks round a ring (``worker``): over the network from executor to
   executor (``peer``, Arrow Flight), through shared memory between tasks of one host, or
   through files of the block store (``blockstore``), as ``TrainConfig.ring`` says;
3. the tasks write their blocks into the block store, each with its size, shape and sha256; the
   driver records these in the state and marks it complete (it is the checkpoint) and logs one
   line per cycle as the tasks report them. A task checks the files of its blocks against the
   records of the state it starts from before it trains (and on ``resume`` every file is
   checked in a job of its own before any training): a damaged state is refused, not retried.

No row of W or W' has two live copies, so nothing is averaged and the result depends on
(seed, P, R) only, not on T or the cluster. The driver never holds W or W' while training.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import os
import pickle
import posixpath
import secrets
import shutil
import tempfile
import threading
import time
import uuid
import weakref
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from . import checkpoint, vocab as vocab_mod
from .blockstore import Aborted, BlockStore, VocabularyFile, block_name, state_blocks
from .config import MAX_FLAT_BLOCKS, TRANSPORT_KEYS, TrainConfig, parse_port_range
from .encode import binary_column, binary_values, encode_corpus, num_shards
from .epoch import EpochPlan, Settings
from .errors import (CheckpointError, ConfigError, InputError, OutputWriteError, TrainingDivergedError,
                     TrainingFailedError)
from .layout import BlockLayout, block_owner, pair_weights
from .schedule import Schedule, resolve_cycles
from .storage import output_errors
from .session import describe, is_connect, master as master_of, task_slots
from .tokenizer import TOKENS, input_errors, read_text, tokenize
from .vocab import Vocabulary
from .worker import EpochReport, NoiseTables, peak_rss_bytes

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainResult:
    """The outcome of :func:`train`: the vocabulary and where the trained blocks are.

    W and W' stay in the block store; :meth:`write_model` writes the model directory from the
    executors. ``W`` and ``Wp`` bring a whole matrix to the driver on first use (for small
    models, tests and MLlib, which holds its model on the driver anyway). A block store the
    trainer made itself (no ``work_dir``) is removed by :meth:`close` (or when the result is
    garbage collected).

    Attributes:
        vocab: the vocabulary (word id = row).
        config: the settings used; num_blocks: P as resolved.
        cycles: one dict per cycle trained by this run: epoch, cycle, progress, loss, pairs,
            alpha, kernel and wait seconds.
        stats: corpus statistics, seconds per phase, per-epoch measurements (bytes moved,
            balance, task timings).
        store: the block store; epochs_done: the state holding the trained blocks.
    """

    vocab: Vocabulary
    config: TrainConfig
    num_blocks: int
    store: BlockStore
    epochs_done: int
    cycles: list = field(default_factory=list)
    stats: dict = field(default_factory=dict)
    _cache: dict = field(default_factory=dict, repr=False, compare=False)
    vocabulary: VocabularyFile | None = None  # the vocabulary file the executors read (in ``store``)

    def layouts(self) -> tuple[BlockLayout, BlockLayout]:
        """The layout the final blocks were trained in, and the one their rows are sorted by."""
        weights = pair_weights(self.vocab.counts, vocab_mod.keep_probabilities(self.vocab.counts, self.config.sample))
        return (BlockLayout.build(weights, self.num_blocks, self.config.seed, self.epochs_done - 1),
                BlockLayout.build(weights, self.num_blocks, self.config.seed, self.epochs_done))

    def _matrix(self, name: str) -> np.ndarray:
        if name not in self._cache:
            trained_in, sorted_by = self.layouts()
            self._cache[name] = self.store.read_matrix(self.epochs_done, name, trained_in, sorted_by,
                                                       self.config.vector_size)
        return self._cache[name]

    @property
    def W(self) -> np.ndarray:
        """(V, N) float32 center vectors (the embeddings), read into the driver."""
        return self._matrix("W")

    @property
    def Wp(self) -> np.ndarray:
        """(V, N) float32 context vectors, read into the driver."""
        return self._matrix("Wp")

    def write_model(self, spark, url: str, metadata: dict, mllib_params: dict | None = None) -> dict:
        """Write the model directory ``url`` (already prepared) from the executors
        (``modelwriter.write_model_from_blocks``; ``spark``: the SparkSession, classic or Connect)."""
        from .modelwriter import write_model_from_blocks

        vocabulary = self.vocabulary or self.store.write_vocabulary(self.vocab.words, self.vocab.counts)
        return write_model_from_blocks(spark, url, self.store, self.epochs_done, vocabulary, self.config.seed,
                                       self.config.sample, self.num_blocks, self.config.vector_size, metadata,
                                       mllib_params)

    def close(self) -> None:
        """Remove the block store if the trainer made it (a temporary directory)."""
        cleanup = self._cache.pop("_cleanup", None)
        if cleanup is not None:
            cleanup()

    def __enter__(self) -> "TrainResult":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# ---------------------------------------------------------------------------- cluster facts

def check_supported(spark) -> None:
    """Raise ConfigError where the block stage cannot run: with dynamic allocation (Spark refuses
    barrier stages with it, SPARK-24942). Classic Spark and Spark Connect sessions both train."""
    try:
        dynamic = spark.conf.get("spark.dynamicAllocation.enabled", "false") or "false"
    except Exception:  # a platform that hides the setting: Spark itself refuses a barrier stage then
        dynamic = "false"
    if dynamic.lower() == "true":
        raise ConfigError("sparkw2v trains in a gang-scheduled (barrier) stage, which Spark does not run "
                          "with dynamic allocation: submit with --conf spark.dynamicAllocation.enabled=false "
                          "(and a fixed number of executors)")


def resolve_num_blocks(config: TrainConfig, slots: int, vocab_size: int) -> int:
    """P: ``config.num_blocks``, or when it is 0 the task slots, at most MAX_FLAT_BLOCKS (more
    blocks cost quality: a cluster of more cores trains with 128 tasks), and at most the
    vocabulary size.

    Raises:
        InputError: an explicit num_blocks above the vocabulary size.
    """
    if config.num_blocks:
        if config.num_blocks > vocab_size:
            raise InputError(f"num_blocks={config.num_blocks} is more than the vocabulary ({vocab_size} "
                             "words): every block needs a word; lower num_blocks or min_count")
        return config.num_blocks
    return max(1, min(slots, MAX_FLAT_BLOCKS, vocab_size))


def num_blocks_warning(num_blocks: int) -> str | None:
    """The warning for a num_blocks above MAX_FLAT_BLOCKS (None for one at most that)."""
    if num_blocks <= MAX_FLAT_BLOCKS:
        return None
    return (f"num_blocks={num_blocks} is above {MAX_FLAT_BLOCKS}, the most blocks measured to keep quality flat (on the "
            "real corpus P = 256 lost 1.15 analogy points and P = 512 3.85 against P = 1): expect lower quality, or "
            f"set num_blocks <= {MAX_FLAT_BLOCKS} (0, the default, does)")


def check_task_memory(config: TrainConfig, slots: int, vocab_size: int) -> None:
    """Refuse a vocabulary whose W and W' blocks would not fit ``max_model_mb`` on one task.

    Each of the T = min(num_blocks, slots) training tasks holds P / T blocks of W and as many
    of W': 2 x V x N x 4 / T bytes; the driver holds none.

    Raises:
        InputError: naming what each task would hold and what would fit.
    """
    if not config.max_model_mb:
        return
    tasks = min(resolve_num_blocks(config, slots, vocab_size), slots)
    total = 2 * vocab_size * config.vector_size * 4 / 2**20
    need = total / tasks
    if need <= config.max_model_mb:
        return
    more = math.ceil(total / config.max_model_mb)
    fits = int(config.max_model_mb * 2**20 * tasks // (8 * config.vector_size))
    raise InputError(
        f"the vocabulary of {vocab_size} words (min_count={config.min_count}) at vector_size="
        f"{config.vector_size} puts {need:.0f} MiB of W and W' blocks on each of the {tasks} training "
        f"task(s) ({total:.0f} MiB in all), more than max_model_mb={config.max_model_mb}: train on at "
        f"least {more} task slots (executor cores) with num_blocks >= {more}, raise max_model_mb (and the "
        f"executors' memory), or shrink the vocabulary with min_count or max_vocab_size (at most {fits} "
        f"words fit on {tasks} task(s))")


# ---------------------------------------------------------------------------- executor side

@dataclass(frozen=True)
class _EpochJob:
    """What the executors need to know about one epoch (small, pickled into the tasks)."""

    epoch: int
    schedule: Schedule
    vocab_size: int
    num_tasks: int
    vector_size: int
    window: int
    negative: int
    ns_exponent: float
    store: BlockStore
    run: str
    wait_timeout: float
    attempt: int = 0  # the driver's attempt at this epoch (Spark never retries a barrier result stage)
    transit: BlockStore | None = None  # shared memory for the W' ring (local masters, see transit_store)
    start_blocks: dict | None = None  # the records of the state the epoch starts from (None: epoch 0 of a fresh run)
    # how W' blocks travel (resolve_ring): "store" | "shared_memory" | "peer" | "hybrid"
    ring: str = "store"
    peer_ports: tuple = (0, 0)  # (first, last) port of the block servers; (0, 0): any free port
    peer_host: str = ""  # the address block servers listen on; "": the executor's, as Spark knows it
    peer_secret: str = field(default="", repr=False)  # the run's secret (never logged, see peer.py)
    vocabulary: VocabularyFile | None = None  # the words and counts, in the block store
    sample: float = 0.0  # the subsampling threshold (the keep probabilities follow from the counts)
    num_shards: int = 0  # C: corpus shards (the encoded corpus's row C holds row counts, not words)
    checked: bool = False  # the driver checked the start state's files just now (resume): no second check

    @property
    def num_blocks(self) -> int:
        return self.schedule.num_blocks

    @property
    def settings(self) -> Settings:
        return Settings(self.schedule, self.vector_size, self.window, self.negative, self.ns_exponent)

    def plan(self) -> EpochPlan:
        """The epoch's plan on an executor (``epoch.EpochPlan``), from the vocabulary in the block
        store (read and checked once per Python process)."""
        _, counts = self.vocabulary.load()
        return EpochPlan(self.settings, self.epoch, counts, vocab_mod.keep_probabilities(counts, self.sample),
                         cache_key=self.run)

    def owner(self, block: int) -> int:
        """The task that owns W block ``block``."""
        return block_owner(block, self.num_tasks, self.num_blocks)


# Stage 1's rows: a shard's pairs whose centers are in W block ``block``, bound for ``task``
# (int16 local rows when the epoch's blocks are small enough, else int32 word ids; ``counts``:
# (P,) int64 pairs per context block).
PAIRS_SCHEMA = "task int, block int, shard int, centers binary, contexts binary, counts binary"
# Stage 2's rows: one pickled worker.EpochReport per task.
REPORT_SCHEMA = "task int, report binary"


def _pairs_task(job: _EpochJob, batches):
    """Stage 1 (``mapInArrow`` over the encoded corpus): every shard's pairs of the epoch, cut by
    center block, each piece bound for the task that owns its center's W block."""
    import pyarrow as pa

    plan = job.plan()
    compact = plan.compact
    for batch in batches:
        ids = binary_values(batch.column("ids"), np.int32)
        offsets = binary_values(batch.column("offsets"), np.int64)
        for shard, ids_q, offsets_q in zip(batch.column("shard").to_pylist(), ids, offsets):
            if shard >= job.num_shards:  # the row counts' row
                continue
            pieces = [p for p in plan.shard_pairs(shard, ids_q, offsets_q, compact) if p[1].shape[0]]
            if not pieces:
                continue
            yield pa.RecordBatch.from_arrays([
                pa.array([job.owner(k) for k, *_ in pieces], pa.int32()),
                pa.array([k for k, *_ in pieces], pa.int32()),
                pa.array([shard] * len(pieces), pa.int32()),
                binary_column([c for _, c, _, _ in pieces]),
                binary_column([o for _, _, o, _ in pieces]),
                binary_column([np.asarray(n, np.int64) for *_, n in pieces])],
                names=["task", "block", "shard", "centers", "contexts", "counts"])
            del pieces


def _routed_pairs(task: int, compact: bool, batches):
    """The rows of stage 1 that reached task ``task``: (k, shard, centers, contexts, counts)."""
    dtype = np.int16 if compact else np.int32
    for batch in batches:
        tasks = batch.column("task").to_numpy()
        if np.any(tasks != task):  # repartitionById routes by the column: a mismatch is a Spark defect
            raise RuntimeError(f"task {task} received pairs of task {int(tasks[tasks != task][0])}")
        yield from zip(batch.column("block").to_pylist(), batch.column("shard").to_pylist(),
                       binary_values(batch.column("centers"), dtype), binary_values(batch.column("contexts"), dtype),
                       binary_values(batch.column("counts"), np.int64))


def _blocks_task(job: _EpochJob, batches):
    """Stage 2, one task of the barrier stage (``mapInArrow(..., barrier=True)`` after
    ``repartitionById``): train the owned W blocks for the whole epoch.

    Yields one row: the task's pickled EpochReport. Divergence, another task's divergence, a
    damaged state and a failing block store are reported (``diverged``, ``aborted``,
    ``damaged``, ``error``), not raised: retrying would not help. A neighbour that stops sending
    (TimeoutError) and a stray or damaged block from the network (``peer.PeerError``) are
    raised: the barrier stage fails and the driver trains the epoch again.
    """
    import pyarrow as pa
    from pyspark import BarrierTaskContext

    context = BarrierTaskContext.get()
    task = context.partitionId()
    started = time.perf_counter()
    exchange = _open_ring(job, context, task)
    timings = {"ring_setup_seconds": time.perf_counter() - started}
    try:
        for report in _train_task(job, batches, task, exchange, started, timings):
            yield pa.RecordBatch.from_arrays([pa.array([task], pa.int32()), pa.array([pickle.dumps(report)], pa.binary())],
                                             names=["task", "report"])
    finally:
        if exchange is not None:
            exchange.close()


def _train_task(job: _EpochJob, batches, task: int, exchange, started: float, timings: dict):
    """The body of :func:`_blocks_task`, with the ring open."""
    plan = job.plan()
    owned = plan.owned(task, job.num_tasks)
    t = time.perf_counter()
    tables = plan.noise_tables()
    timings["tables_seconds"] = time.perf_counter() - t
    pairs = _arrange_pairs(plan, owned, tables, _routed_pairs(task, plan.compact, batches), timings)
    t = time.perf_counter()
    try:
        W, Wp, bytes_read = _load_blocks(job, plan, owned)
    except CheckpointError as exc:
        yield _failed(job, task, exchange, str(exc), damaged=True)
        return
    except OSError as exc:
        yield _failed(job, task, exchange, f"reading the blocks after epoch {job.epoch} from "
                                           f"{job.store.url} failed ({exc})")
        return
    timings["load_seconds"] = time.perf_counter() - t

    def on_cycle(cycle: int, report: EpochReport) -> None:
        try:
            job.store.report_cycle(job.run, job.epoch, job.attempt, cycle, task, {
                "pairs": int(report.pairs[cycle].sum()), "loss": float(report.loss[cycle].sum()),
                "loss_pairs": int(report.loss_pairs[cycle].sum()), "time": time.time(), "pid": os.getpid()})
        except OSError:  # progress lines are best effort
            pass

    try:
        report = plan.train(task, job.num_tasks, W, Wp, pairs, tables, exchange, on_cycle)
    except Aborted:
        report = EpochReport.empty(task, job.num_tasks, job.epoch, job.schedule.cycles, job.num_blocks)
        report.aborted = True
        yield report
        return
    except TimeoutError:  # the neighbour died: fail the stage, so that the driver runs it again
        raise
    except OSError as exc:
        yield _failed(job, task, exchange, f"handing W' blocks round the ring in {job.store.url} failed ({exc})")
        return
    if report.diverged:
        if exchange is not None:
            exchange.abort(report.diverged)
        yield report
        return
    if exchange is not None:
        exchange.flush()  # every block sent has arrived (PeerError if not: the stage fails)
        _count_ring_bytes(report, exchange)
    t = time.perf_counter()
    following = plan.layout_of(job.epoch + 1)
    try:
        for matrix, blocks in (("W", W), ("Wp", Wp)):
            for b, rows in blocks.items():
                record = job.store.write_block(job.epoch + 1, matrix, b, rows, plan.layout, following)
                report.blocks[block_name(matrix, b)] = record
                report.bytes_written += record["shape"][0] * record["shape"][1] * 4
    except OSError as exc:
        yield _failed(job, task, exchange, f"writing the blocks after epoch {job.epoch + 1} to "
                                           f"{job.store.url} failed ({exc})")
        return
    timings["write_seconds"] = time.perf_counter() - t
    timings["task_seconds"] = time.perf_counter() - started
    report.peak_rss_bytes = peak_rss_bytes()
    report.bytes_read = bytes_read
    report.timings.update(timings)
    yield report


def _open_ring(job: _EpochJob, context, task: int):
    """This task's W' ring for the epoch (None with one task): files of the block store, files
    in shared memory (a local master), or a ``peer.PeerExchange`` (a block server of this task's
    own, its neighbours' addresses from the stage's ``peer.PhoneBook`` in the block store -- not
    ``allGather``, which costs a second --, shared memory towards tasks of this host when
    ``job.ring`` is "hybrid").

    Raises:
        peer.PeerError: no port of ``peer_ports`` is free, a neighbour's entry is not this
            stage's, or two tasks announced one address.
        TimeoutError: a neighbour did not start its server within ``job.wait_timeout``.
    """
    if job.num_tasks == 1:
        return None
    if job.ring == "store":
        return job.store.exchange(job.run, job.epoch, job.attempt, task, job.num_tasks, job.wait_timeout)
    if job.ring == "shared_memory":
        return job.transit.exchange(job.run, job.epoch, job.attempt, task, job.num_tasks, job.wait_timeout,
                                    same_host=True)
    from . import peer

    stage = peer.Stage(job.run, job.epoch, job.attempt, job.num_tasks)
    host = job.peer_host or context.getTaskInfos()[task].address.rsplit(":", 1)[0]
    server = peer.BlockServer.start(host, job.peer_ports, stage, task, job.peer_secret)
    try:
        # room for the W' blocks a task may hold in shared memory: its share and one in transit
        room = job.ring == "hybrid" and peer.shared_memory_room(
            2 * job.vocab_size * job.vector_size * 4 // job.num_tasks)
        me = peer.Peer(task, server.address, peer.host_id(), room)
        book = peer.PhoneBook(job.store.fs, posixpath.join(job.store.transit_dir(job.run, job.epoch, job.attempt),
                                                           "peers"), job.peer_secret, stage)
        peers = peer.neighbours(book, me, job.wait_timeout, server.check)
        local = None
        if job.ring == "hybrid" and any(peer.same_host(me, p) for p in peers if p.task != task):
            local = _host_ring(job, task)
        return peer.PeerExchange(server, peers, job.peer_secret, job.wait_timeout, local,
                                 force_network=job.ring == "peer", everyone=book.known)
    except BaseException:
        server.shutdown()
        raise


def _host_ring(job: _EpochJob, task: int):
    """The shared-memory ring between tasks of this host on a cluster (``/dev/shm``, which
    executors of one host share), in a directory of the run. Each task removes its own blocks
    when it ends, and the last one the directories; what a failed attempt left is removed here:
    the run's other epoch attempts, and other runs' directories unchanged for 2 x WAIT_TIMEOUT
    (a run killed with its executors; a live ring renames files there every sub-epoch)."""
    own = f"sparkw2v-ring-{job.run}"
    store = BlockStore(os.path.join(SHARED_MEMORY, own))
    exchange = store.exchange(job.run, job.epoch, job.attempt, task, job.num_tasks, job.wait_timeout, same_host=True)
    parent = os.path.dirname(exchange.directory)
    if os.path.isdir(parent):
        for name in os.listdir(parent):
            if os.path.join(parent, name) != exchange.directory:
                shutil.rmtree(os.path.join(parent, name), ignore_errors=True)
    now = time.time()
    for name in os.listdir(SHARED_MEMORY):
        path = os.path.join(SHARED_MEMORY, name)
        if name.startswith("sparkw2v-ring-") and name != own:
            try:
                newest = max(os.stat(root).st_mtime for root, _, _ in os.walk(path))
            except (OSError, ValueError):
                continue
            if now - newest > 2 * WAIT_TIMEOUT:
                shutil.rmtree(path, ignore_errors=True)
    return exchange


def _count_ring_bytes(report: EpochReport, exchange) -> None:
    """Which channel the task's W' hand-overs took (bytes sent): network, shared memory, store."""
    if hasattr(exchange, "bytes_peer"):
        report.bytes_peer = exchange.bytes_peer
        report.bytes_shared_memory = exchange.bytes_shared_memory
        report.timings["peer_send_seconds"] = exchange.send_seconds
    elif exchange.channel == "shared_memory":
        report.bytes_shared_memory = exchange.bytes_sent
    else:
        report.bytes_ring_store_written = exchange.bytes_sent
        report.bytes_ring_store_read = exchange.bytes_received


def _arrange_pairs(plan: EpochPlan, owned: range, tables: NoiseTables, records, timings: dict) -> dict:
    """The routed pairs of the owned W blocks, laid out by cycle and context block (in shard
    order, whatever order the shuffle delivered them in)."""
    started = time.perf_counter()
    sources: dict[int, list] = {k: [] for k in owned}
    for k, shard, c_k, o_k, n_k in records:
        sources[k].append((shard, c_k, o_k, n_k))
    timings["pairs_read_seconds"] = time.perf_counter() - started
    t = time.perf_counter()
    compact = plan.compact
    pairs = {}
    for k in owned:
        ordered = [s[1:] for s in sorted(sources.pop(k), key=lambda s: s[0])]
        pairs[k] = plan.arrange(k, ordered, tables, local_rows=compact)
        del ordered
    timings["arrange_seconds"] = time.perf_counter() - t
    timings["compact_pairs"] = float(compact)
    return pairs


def _load_blocks(job: _EpochJob, plan: EpochPlan, owned: range):
    """The owned W blocks and the same W' blocks at the start of the epoch: created (epoch 0:
    W from the seed, W' = 0) or read from the state the previous epoch left, after the files of
    the owned blocks are checked against their records (every file is some task's) -- unless
    the driver checked the whole state just before (``job.checked``: a resumed run).

    Raises:
        CheckpointError: a block file differs from its record or cannot be read as one.
    """
    if job.start_blocks is None:  # epoch 0 of a fresh run
        W, Wp = plan.initial_blocks(owned)
        return W, Wp, 0
    if job.start_blocks is not None and not job.checked:
        for k in owned:
            for matrix in ("W", "Wp"):
                problem = job.store.check_block(job.epoch, matrix, k, job.start_blocks[block_name(matrix, k)])
                if problem is not None:
                    raise CheckpointError(problem)
    W, Wp, nbytes = {}, {}, 0
    prev = plan.layout if job.epoch == 0 else plan.layout_of(job.epoch - 1)  # a warm start's state 0: epoch 0's
    for k in owned:
        W[k], n_w = job.store.read_block(job.epoch, "W", k, prev, plan.layout, job.vector_size)
        Wp[k], n_wp = job.store.read_block(job.epoch, "Wp", k, prev, plan.layout, job.vector_size)
        nbytes += n_w + n_wp
    return W, Wp, nbytes


def _failed(job: _EpochJob, task: int, exchange, message: str, damaged: bool = False) -> EpochReport:
    """The report of a task whose block store failed (or, ``damaged``, whose start state differs
    from its record); the other tasks are told to stop."""
    report = EpochReport.empty(task, job.num_tasks, job.epoch, job.schedule.cycles, job.num_blocks)
    if damaged:
        report.damaged = message
    else:
        report.error = message
    if exchange is not None:
        try:
            exchange.abort({"reason": "error", "task": task})
        except OSError:  # the others time out instead
            pass
    return report


# ---------------------------------------------------------------------------- driver side

class _Progress(threading.Thread):
    """Logs one line per cycle as the tasks of the running epoch report them."""

    def __init__(self, store: BlockStore, run: str, epoch: int, attempt: int, num_tasks: int, schedule: Schedule,
                 epoch_words: int, clock: dict):
        super().__init__(daemon=True, name="sparkw2v-progress")
        self.store, self.run_id, self.epoch, self.attempt, self.num_tasks = store, run, epoch, attempt, num_tasks
        self.schedule, self.epoch_words, self.clock = schedule, epoch_words, clock
        self.logged: set[int] = set()
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(1.0):
            try:
                self.poll()
            except Exception:  # progress lines are best effort; the epoch's result is not
                log.debug("progress poll failed", exc_info=True)

    def poll(self) -> None:
        s = self.schedule
        for cycle, infos in sorted(self.store.cycle_reports(self.run_id, self.epoch, self.attempt).items()):
            if cycle in self.logged or len(infos) < self.num_tasks:
                continue
            self.logged.add(cycle)
            done = (self.epoch * s.cycles + cycle + 1) / (s.epochs * s.cycles)
            elapsed = time.perf_counter() - self.clock["start"]
            words = self.clock["words_before"] + self.epoch_words * (cycle + 1) / s.cycles
            rate = words / max(elapsed, 1e-9)
            loss = sum(i["loss"] for i in infos) / max(sum(i["loss_pairs"] for i in infos), 1)
            remaining = self.epoch_words * s.epochs * (1 - done)
            log.info("epoch %d/%d cycle %d/%d %5.1f%% %9.0f words/s loss %.4f alpha %.5f ETA %.0f s",
                     self.epoch + 1, s.epochs, cycle + 1, s.cycles, 100 * done, rate, loss,
                     s.alpha_range(self.epoch, cycle, s.num_blocks - 1)[1], remaining / max(rate, 1e-9))


def train(spark, input_path: str, config: TrainConfig, *, work_dir: str | None = None, resume: bool = False,
          on_epoch: Callable[[dict], None] | None = None, init_from: str | None = None) -> TrainResult:
    """Train SGNS embeddings on the Parquet text at ``input_path``.

    Args:
        spark: the SparkSession (classic Spark: not Spark Connect).
        input_path: Parquet file or directory with the string column ``config.text_column``.
        config: training settings.
        work_dir: the block store (see ``blockstore``): a directory every executor and the
            driver can reach. Default: a temporary local directory, removed afterwards (local
            masters only). Its states are kept per ``config.checkpoint_every``.
        resume: continue from the newest complete state in ``work_dir``.
        on_epoch: called on the driver after every epoch with that epoch's summary dict.
        init_from: warm start (``warmstart``): an earlier model directory whose vectors the
            run starts from; its words stay in the vocabulary, new words join by min_count over
            this corpus, counts and noise follow this corpus.

    Raises:
        ConfigError: dynamic allocation, a cluster without ``work_dir``, or an ``init_from``
            model of another vector_size.
        IncompleteModelError, ModelFormatError: ``init_from`` is no complete, sound model.
        InputError: missing input or column, empty corpus, empty vocabulary, num_blocks above
            the vocabulary, or nothing (compatible) to resume from.
        CheckpointError: the state resumed or trained from is damaged (a block file differs
            from its recorded size, shape or sha256, or state.json is not a valid record).
        TrainingDivergedError: NaN/Inf in the blocks, or an exploding loss.
        OutputWriteError: the block store could not be written.
    """
    check_supported(spark)
    tokens = tokenize(read_text(spark, input_path, config.text_column), config.text_column, config)
    return train_tokens(tokens, config, work_dir=work_dir, resume=resume, on_epoch=on_epoch,
                        input_path=input_path, init_from=init_from)


def train_tokens(tokens, config: TrainConfig, *, work_dir: str | None = None, resume: bool = False,
                 on_epoch: Callable[[dict], None] | None = None, input_path: str = "(DataFrame)",
                 init_from: str | None = None) -> TrainResult:
    """Train SGNS embeddings on a DataFrame with an array<string> column ``tokens``.

    ``input_path`` only names the input in error messages.

    Raises:
        ConfigError, InputError, TrainingDivergedError, OutputWriteError: as :func:`train`.
    """
    from .storage import absolute

    spark = tokens.sparkSession
    check_supported(spark)
    master = master_of(spark)
    work_dir = absolute(work_dir) if work_dir else work_dir  # the executors open it: not relative to their cwd
    init_from = absolute(init_from) if init_from else init_from
    if work_dir is None and not _executors_share_this_machine(spark, master):
        raise ConfigError("training on a cluster (or through a Spark Connect server on another machine) needs "
                          "a work directory that this process and every executor can read and write (HDFS, S3, NFS, "
                          "a Databricks volume, ...): the blocks of W and W' live there; give work_dir (--work-dir, "
                          "or tempDir of sparkw2v.ml.Word2Vec)")
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    init, keep_words = None, None
    if init_from:
        from . import warmstart
        from .storage import check_distinct

        if work_dir is not None:  # the blocks must not land in the user's model
            check_distinct(init_from, work_dir, "work directory", source="the --init-from model")
        init = warmstart.open_model(init_from, config.vector_size)
        keep_words = warmstart.model_words(spark, init)
    describe(spark, "sparkw2v: read, tokenize and count words")
    slots = task_slots(spark)
    with input_errors(input_path):
        vocab = vocab_mod.count_vocabulary(tokens, TOKENS, config.min_count, config.max_vocab_size,
                                           functools.partial(check_task_memory, config, slots), keep_words)
    timings["vocabulary_seconds"] = time.perf_counter() - t0
    log.info("vocabulary: %d words (of %d distinct) cover %d of %d tokens",
             len(vocab), vocab.corpus_types, vocab.train_words, vocab.corpus_tokens)
    if init is not None:
        w = vocab.warm_start
        log.info("warm start from %s: its %d words keep their vectors (%d do not occur in this corpus and stay as "
                 "they are, %d occur fewer than min_count=%d times); %d new words start afresh", init.url,
                 w["model_words"], w["model_words_unseen"], w["model_words_rare"], config.min_count, w["new_words"])
    P = resolve_num_blocks(config, slots, len(vocab))
    warning = num_blocks_warning(P)
    if warning:
        log.warning("%s", warning)
    T = min(P, slots)
    shards = num_shards(vocab.train_words)
    own_store = work_dir is None
    if own_store:
        work_dir = tempfile.mkdtemp(prefix="sparkw2v-blocks-")
    store = BlockStore(work_dir)
    corpus = None
    try:
        with output_errors(f"writing the vocabulary to {store.url}"):
            vocabulary = store.write_vocabulary(vocab.words, vocab.counts)
        t1 = time.perf_counter()
        describe(spark, "sparkw2v: encode corpus to word ids")
        with input_errors(input_path):
            corpus, shard_words, row_stats = encode_corpus(tokens, vocabulary, shards)
        timings["encode_seconds"] = time.perf_counter() - t1
        log.info("corpus encoded in %d shards (%.1f s); %d blocks trained by %d tasks: %d epochs x %d cycles x %d "
                 "sub-epochs, %d words an epoch", shards, timings["encode_seconds"], P, T, config.epochs,
                 resolve_cycles(config.cycles_per_epoch, P), P, int(shard_words.sum()))
        if row_stats["null_rows"] or row_stats["empty_rows"]:
            log.warning("skipped %d row(s) with null text and %d with no token, of %d rows",
                        row_stats["null_rows"], row_stats["empty_rows"], row_stats["rows"])
        cycles, train_stats = _train_epochs(spark, master, corpus, shard_words, vocab, vocabulary, config, P, T,
                                            store, resume, on_epoch, init)
    except BaseException:
        if own_store:
            store.remove_all()
        raise
    finally:
        if corpus is not None:
            corpus.unpersist()
    timings["train_seconds"] = train_stats.pop("train_seconds")
    epoch_words = int(shard_words.sum())
    stats = {
        "corpus_tokens": vocab.corpus_tokens,
        "corpus_types": vocab.corpus_types,
        "corpus_rows": row_stats["rows"],
        "null_rows": row_stats["null_rows"],
        "empty_rows": row_stats["empty_rows"],
        "trainable_rows": row_stats["trainable_rows"],
        "vocab_size": len(vocab),
        "train_words_per_epoch": epoch_words,
        "num_blocks": P,
        "num_tasks": T,
        "task_slots": slots,
        "cycles_per_epoch": resolve_cycles(config.cycles_per_epoch, P),
        "shards": shards,
        # epochs trained by this run (a resumed run trains only the rest)
        "epochs_trained": train_stats["epochs_trained"],
        "words_per_sec": (epoch_words * train_stats["epochs_trained"] / timings["train_seconds"]
                          if timings["train_seconds"] > 0 else 0.0),
        **{k: round(v, 3) for k, v in timings.items()},
        **train_stats,
    }
    if init is not None:
        stats["warm_start"] = {"model": init.url, **vocab.warm_start}
    result = TrainResult(vocab, config, P, store, config.epochs, cycles, stats, vocabulary=vocabulary)
    if own_store:  # removed by close(), or when the result is collected
        result._cache["_cleanup"] = weakref.finalize(result, shutil.rmtree, work_dir, True)
    return result


def _settings(config: TrainConfig, num_blocks: int) -> dict:
    """The settings a checkpoint records and a resume must match: not how blocks travel; P and R
    as resolved (a default R and an explicit one that resolve alike are the same run)."""
    return {**{k: v for k, v in config.to_dict().items() if k not in TRANSPORT_KEYS}, "num_blocks": num_blocks,
            "cycles_per_epoch": resolve_cycles(config.cycles_per_epoch, num_blocks)}


def resolve_ring(ring: str, master: str, transit: BlockStore | None) -> str:
    """How W' blocks travel this run (``_EpochJob.ring``) from ``TrainConfig.ring``:

    - "auto" on a local master: "shared_memory" (``transit``), or "store" if /dev/shm had no room;
    - "auto" on a cluster: "hybrid" (Flight between hosts, shared memory within one);
    - "peer": "peer" (Flight between every pair of tasks); "store": "store" (work-dir files).
    """
    if ring == "auto":
        if master.startswith("local"):
            return "shared_memory" if transit is not None else "store"
        return "hybrid"
    return ring


def _train_epochs(spark, master: str, corpus, shard_words, vocab: Vocabulary, vocabulary: VocabularyFile,
                  config: TrainConfig, P: int, T: int, store: BlockStore, resume: bool, on_epoch, init=None):
    schedule = Schedule(config.epochs, resolve_cycles(config.cycles_per_epoch, P), P, config.alpha,
                        config.min_alpha, config.seed)
    settings = _settings(config, P)
    if init is not None:  # a warm start's checkpoints are of that start: resume needs the same --init-from
        settings["init_from"] = init.url
    fingerprint = checkpoint.vocabulary_fingerprint(vocab.words, vocab.counts)
    record = {"settings": settings, "vocabulary": fingerprint, "vocab_size": len(vocab),
              "num_blocks": P, "shards": int(shard_words.shape[0])}
    first, start_blocks = 0, None
    if resume:
        done = store.states()
        if not done:
            raise InputError(f"nothing to resume: no checkpoint in {store.url!r}; train without "
                             "--resume (with --checkpoint-every N to make checkpoints)")
        state = store.read_state(done[-1])
        checkpoint.check_compatible(state, settings, fingerprint)
        first = done[-1]
        _verify_state(spark, store, first, state)
        start_blocks = state["blocks"]
        log.info("resuming after epoch %d of %d from %s", first, config.epochs, store.url)
    else:
        for stale in store.states():  # left by an earlier run in this work directory
            store.remove_state(stale)
        if init is not None:  # a warm start: the state after "0 epochs" holds the earlier model's vectors
            start_blocks = _start_state(spark, init, store, vocabulary, vocab, config, P, record)
    run = store.new_run()
    if not _executors_share_this_machine(spark, master):  # a Connect server elsewhere: its /dev/shm is not ours
        master = ""
    transit = (transit_store(master, len(vocab) * config.vector_size * 4) if config.ring == "auto"
               else None)
    ring = resolve_ring(config.ring, master, transit)
    network = {"ring": ring, "peer_ports": parse_port_range(config.peer_ports),
               "peer_host": "127.0.0.1" if master.startswith("local") else "",
               "peer_secret": secrets.token_hex(32) if ring in ("peer", "hybrid") else ""}
    log.info("W' blocks travel %s", {"store": f"through files in {store.url}", "shared_memory": "through shared memory",
                                     "peer": "over the network (Arrow Flight) between every pair of tasks",
                                     "hybrid": "over the network (Arrow Flight) between hosts, through shared "
                                               "memory within one"}[ring])
    epoch_words = int(shard_words.sum())
    clock = {"start": time.perf_counter(), "words_before": 0.0}
    cycles: list[dict] = []
    epoch_stats: list[dict] = []
    try:
        for epoch in range(first, config.epochs):
            job = _EpochJob(epoch, schedule, len(vocab), T, config.vector_size, config.window, config.negative,
                            config.ns_exponent, store, run, WAIT_TIMEOUT, transit=transit, start_blocks=start_blocks,
                            vocabulary=vocabulary, sample=config.sample, num_shards=int(shard_words.shape[0]),
                            checked=resume and epoch == first, **network)
            started = time.perf_counter()
            reports = _run_epoch_with_retries(spark, corpus, job, epoch_words, clock)
            seconds = time.perf_counter() - started
            damaged = [r.damaged for r in reports if r.damaged]
            if damaged:
                raise CheckpointError(checkpoint.damaged_message(epoch, store.url, damaged, None,
                                                                 store.damage_fix(epoch)))
            errors = [r.error for r in reports if r.error]
            if errors:
                raise OutputWriteError(f"{errors[0]}: fix the filesystem and train again"
                                       + (" with --resume" if store.states() else ""))
            _raise_if_diverged(reports, vocab, store, config)
            start_blocks = {name: rec for r in reports for name, rec in r.blocks.items()}
            try:
                store.commit_state(epoch + 1, {**record, "blocks": start_blocks})
                for old in checkpoint.states_to_remove(store.states(), epoch + 1, config.checkpoint_every,
                                                       config.epochs):
                    store.remove_state(old)
                store.remove_run(run, epoch)
                if transit is not None:
                    transit.remove_run(run, epoch)
            except OSError as exc:
                raise OutputWriteError(f"writing the blocks after epoch {epoch + 1} to {store.url} failed "
                                       f"({exc}): fix the filesystem and train again with --resume") from None
            clock["words_before"] += epoch_words
            summary = _summarise_epoch(epoch, reports, schedule, epoch_words, seconds)
            summary["stats"]["ring"] = ring
            epoch_stats.append(summary.pop("stats"))
            cycles.extend(summary.pop("cycles"))
            log.info("epoch %d/%d done in %.1f s: %.0f words/s, loss %.4f", epoch + 1, config.epochs, seconds,
                     epoch_words / max(seconds, 1e-9), summary["loss"])
            if on_epoch is not None:
                on_epoch(summary)
    finally:
        try:
            store.remove_run(run)
        except OSError:  # pragma: no cover - best effort: scratch files of a failing filesystem
            pass
        if transit is not None:
            shutil.rmtree(transit.url, ignore_errors=True)
    stats = {"train_seconds": sum(s["seconds"] for s in epoch_stats),
             "epochs_trained": len(epoch_stats), "epochs": epoch_stats}
    return cycles, stats


def _start_state(spark, init, store: BlockStore, vocabulary: VocabularyFile, vocab: Vocabulary,
                 config: TrainConfig, P: int, record: dict) -> dict:
    """A warm start's first state (``warmstart.write_start_state``), committed as the state after
    0 epochs (a run interrupted before its first checkpoint resumes from it); its block records."""
    from . import warmstart

    started = time.perf_counter()
    try:
        blocks = warmstart.write_start_state(spark, init, store, vocabulary, vocab.words, config.sample, P,
                                             config.seed, config.vector_size, vocab.warm_start["model_words"])
        store.commit_state(0, {**record, "blocks": blocks})
    except OSError as exc:
        raise OutputWriteError(f"writing the start state from {init.url} to {store.url} failed ({exc}): fix the "
                               "filesystem and train again") from None
    seconds = time.perf_counter() - started
    vocab.warm_start["start_state_seconds"] = round(seconds, 3)
    log.info("start state written from %s's vectors (%.1f s)", init.url, seconds)
    return blocks


def _verify_state(spark, store: BlockStore, epochs_done: int, state: dict) -> None:
    """Check every block file of a state against its record (``state["blocks"]``), one Spark
    task per file (the executors read the files; the driver holds no vector). Problems come
    back as values, so nothing is retried.

    Raises:
        CheckpointError: a file is missing or differs from its record (size, shape, sha256).
        OutputWriteError: a file could not be read (the filesystem failed).
    """
    items = [(matrix, block, state["blocks"][block_name(matrix, block)])
             for matrix, block in state_blocks(state["num_blocks"])]
    describe(spark, f"sparkw2v: check the {len(items)} block files of the checkpoint after {epochs_done} epoch(s)")
    results = (spark.range(0, len(items), 1, len(items))
               .mapInArrow(functools.partial(_check_block_task, store, epochs_done, items), "kind string, text string")
               .collect())
    problems = [r["text"] for r in results if r["kind"] == "damaged"]
    if problems:
        raise CheckpointError("cannot resume: " + checkpoint.damaged_message(
            epochs_done, store.url, problems, len(items), store.damage_fix(epochs_done)))
    failed = [r["text"] for r in results if r["kind"] == "error"]
    if failed:
        raise OutputWriteError(f"reading the checkpoint after {epochs_done} epoch(s) in {store.url} failed "
                               f"({failed[0]}): fix the filesystem and train again with --resume")


def _check_block_task(store: BlockStore, epochs_done: int, items: list, batches):
    """Executor side of :func:`_verify_state` (``mapInArrow`` over the item numbers): one row
    ("ok" | "damaged" | "error", what) per block file."""
    import pyarrow as pa

    for batch in batches:
        kinds, texts = [], []
        for i in batch.column(0).to_pylist():
            matrix, block, record = items[i]
            try:
                problem = store.check_block(epochs_done, matrix, block, record)
            except OSError as exc:
                kinds.append("error")
                texts.append(f"{store.block_path(epochs_done, matrix, block)}: {exc}")
                continue
            kinds.append("ok" if problem is None else "damaged")
            texts.append(problem)
        yield pa.RecordBatch.from_arrays([pa.array(kinds, pa.string()), pa.array(texts, pa.string())],
                                         names=["kind", "text"])


def _executors_share_this_machine(spark, master: str) -> bool:
    """Whether every executor runs on this machine, so that a local temporary directory is one
    they all reach: a local master, in this process or behind a Spark Connect server that this
    process started or reaches on a loopback address."""
    if not master.startswith("local"):
        return False
    if not is_connect(spark):
        return True
    if os.environ.get("SPARK_LOCAL_REMOTE"):  # pyspark started the Connect server here
        return True
    try:
        host = spark.client._builder.url.hostname or ""
    except AttributeError:  # pragma: no cover - another client version: assume elsewhere
        return False
    return host in ("localhost", "::1") or host.startswith("127.")


# Where W' blocks in transit go when every task runs on the driver's machine: in shared memory
# (tmpfs) a received block is mapped and handed on by a rename, without copies, and nothing is
# written back to a disk (mapped files on a disk were: a 10M-word run stalled in writeback).
SHARED_MEMORY = "/dev/shm"


def transit_store(master: str, model_bytes: int) -> BlockStore | None:
    """A block store in shared memory for the W' ring of a local master, if SHARED_MEMORY has
    room for W' (``model_bytes`` = V x d x 4) with a margin; else None: blocks are then copied
    through the work directory. Also removes what killed runs of this machine left there.
    """
    from .storage import _process_alive

    if not master.startswith("local") or not os.path.isdir(SHARED_MEMORY):
        return None
    for name in os.listdir(SHARED_MEMORY):
        pid = name[len("sparkw2v-"):].split("-")[0] if name.startswith("sparkw2v-") else ""
        if pid.isdigit() and not _process_alive(int(pid)):
            shutil.rmtree(os.path.join(SHARED_MEMORY, name), ignore_errors=True)
    st = os.statvfs(SHARED_MEMORY)
    if st.f_bavail * st.f_frsize < 1.25 * model_bytes + (64 << 20):
        log.info("W' blocks in transit are copied through the work directory: %s has less room than "
                 "1.25 x W' (%d bytes)", SHARED_MEMORY, model_bytes)
        return None
    return BlockStore(os.path.join(SHARED_MEMORY, f"sparkw2v-{os.getpid()}-{uuid.uuid4().hex[:8]}"))


# how long a task waits for a W' block from its neighbour before it fails (Spark then retries
# the stage): far longer than any sub-epoch, short enough to surface a stuck stage
WAIT_TIMEOUT = 1800.0


# Spark aborts the job when a task of a barrier result stage fails (a lost executor, a killed
# Python worker); the driver then runs the epoch again from its start state, in a fresh scratch
# directory, reusing the pairs Spark still holds. The same inputs give the same bits.
EPOCH_ATTEMPTS = 4


def _run_epoch_with_retries(spark, corpus, job: _EpochJob, epoch_words: int, clock: dict) -> list[EpochReport]:
    pairs = (corpus.select("shard", "ids", "offsets")
             .mapInArrow(functools.partial(_pairs_task, job), PAIRS_SCHEMA)
             .repartitionById(job.num_tasks, "task"))
    for attempt in range(EPOCH_ATTEMPTS):
        try:
            return _run_epoch(spark, pairs, dataclasses.replace(job, attempt=attempt), epoch_words, clock)
        except Exception as exc:  # the job failed in Spark (py4j's or Spark Connect's exception)
            damage = checkpoint.raised_in(str(exc))
            if damage is not None:  # deterministic: the same bytes fail the same way again
                raise CheckpointError(checkpoint.damaged_message(
                    job.epoch, job.store.url, [damage], None, job.store.damage_fix(job.epoch))) from None
            if "barrier" not in str(exc).lower():
                raise
            reason = _failure_reason(str(exc))
            if attempt + 1 == EPOCH_ATTEMPTS:
                raise TrainingFailedError(_failure_message(job, reason, epoch_words)) from None
            log.warning("epoch %d: attempt %d failed (%s); training the epoch again from its start",
                        job.epoch + 1, attempt + 1, reason)
    raise AssertionError("unreachable")  # pragma: no cover


def _failure_reason(text: str) -> str:
    """The telling line of a failed barrier job's error."""
    for marker in ("Python worker exited unexpectedly", "ExecutorLostFailure", "MemoryError", "Error: "):
        for line in text.splitlines():
            if marker in line:
                return " ".join(line.split())[:300]
    return " ".join(text.splitlines()[0].split())[:300] if text else "unknown"


def _failure_message(job: _EpochJob, reason: str, epoch_words: int) -> str:
    blocks = 2 * job.vocab_size * job.vector_size * 4 / job.num_tasks / 2**30
    pairs = 4 * epoch_words * 8 / job.num_tasks / 2**30  # ~4 pairs a word of 8 bytes, twice while laid out
    return (f"epoch {job.epoch + 1} failed {EPOCH_ATTEMPTS} times ({reason}); a task that dies like this has "
            f"most often run out of memory: each of the {job.num_tasks} training tasks holds about {blocks:.1f} GiB "
            f"of W and W' blocks and up to {2 * pairs:.1f} GiB of pairs: give the executors more memory, train on "
            f"more task slots (the vocabulary is split over min(num_blocks, slots) tasks), or shrink the vocabulary "
            f"(min_count, max_vocab_size); checkpoints, if any, are kept for --resume")


def _run_epoch(spark, pairs, job: _EpochJob, epoch_words: int, clock: dict) -> list[EpochReport]:
    """One epoch's Spark job: the pairs (stage 1) routed to the tasks owning their W blocks,
    then the barrier stage (``mapInArrow(barrier=True)``); the tasks' reports, by task."""
    s = job.schedule
    describe(spark, f"sparkw2v: epoch {job.epoch + 1}/{s.epochs}: {job.num_blocks} blocks, "
                    f"{s.cycles} cycles, {job.num_tasks} tasks" + (f", attempt {job.attempt + 1}" if job.attempt else ""))
    progress = _Progress(job.store, job.run, job.epoch, job.attempt, job.num_tasks, s, epoch_words, clock)
    progress.start()
    try:
        rows = pairs.mapInArrow(functools.partial(_blocks_task, job), REPORT_SCHEMA, barrier=True).collect()
    finally:
        progress.stopped.set()
        progress.join()
    try:
        progress.poll()  # the cycles that ended after the last poll
    except OSError:  # pragma: no cover
        pass
    return sorted((pickle.loads(row["report"]) for row in rows), key=lambda r: r.task)


def _raise_if_diverged(reports: list[EpochReport], vocab: Vocabulary, store: BlockStore,
                       config: TrainConfig) -> None:
    bad = [r.diverged for r in reports if r.diverged]
    if not bad:
        return
    info = min(bad, key=lambda d: (d["cycle"], d["task"]))
    where = f"training diverged in epoch {info['epoch'] + 1}, cycle {info['cycle'] + 1}"
    if info["reason"] == "nan":
        name, count = next(iter(info["row_counts"].items()))
        sample = ", ".join(repr(vocab.words[i]) for i in info["rows"][name][:5])
        what = f"{count} row(s) of {name} hold NaN or Inf (e.g. {sample})"
    else:
        what = (f"the SGNS loss reached {info['loss']:.3g} nats per pair, above the limit of "
                f"{info['limit']:.3g} ({8:.0f} x the starting loss)")
    states = store.states()
    kept = (f"; the last good checkpoint (after {states[-1]} epoch(s)) is kept in {store.url}"
            if states and config.checkpoint_every
            else "; no checkpoint was written (checkpoint_every=0 or too early)")
    if not config.checkpoint_every:
        for s in states:
            store.remove_state(s)
    raise TrainingDivergedError(f"{where}: {what}; lower alpha{kept}")


def _summarise_epoch(epoch: int, reports: list[EpochReport], schedule: Schedule, epoch_words: int,
                     seconds: float) -> dict:
    """Per-cycle lines and the epoch's cost-model measurements from the tasks' reports."""
    R, P = schedule.cycles, schedule.num_blocks
    pairs = sum(r.pairs for r in reports)
    loss = sum(r.loss for r in reports)
    loss_pairs = sum(r.loss_pairs for r in reports)
    kernel_max = np.max([r.kernel_seconds for r in reports], axis=0)  # (R, P): the slowest task
    kernel_sum = sum(r.kernel_seconds for r in reports)
    wait = sum(r.wait_seconds for r in reports)
    cycles = []
    for c in range(R):
        a0 = schedule.alpha_range(epoch, c, 0)[0]
        a1 = schedule.alpha_range(epoch, c, P - 1)[1]
        cycles.append({"epoch": epoch, "cycle": c, "progress": (epoch * R + c + 1) / (schedule.epochs * R),
                       "pairs": int(pairs[c].sum()),
                       "loss": float(loss[c].sum() / max(loss_pairs[c].sum(), 1)),
                       "alpha_start": a0, "alpha_end": a1,
                       "kernel_seconds": float(kernel_max[c].sum()),
                       "wait_seconds": float(wait[c].sum())})
    strata = np.zeros((P, P), np.int64)
    for r in reports:
        for k, row in r.stratum_pairs.items():
            strata[k] = row
    per_sub_epoch = np.zeros(P, np.int64)  # pairs of sub-epoch s over the whole epoch
    for k in range(P):
        for s in range(P):
            per_sub_epoch[s] += strata[k, (k + s) % P]
    timing_keys = sorted({key for r in reports for key in r.timings})
    stats = {
        "epoch": epoch, "seconds": seconds, "pairs": int(pairs.sum()),
        "words_per_sec": epoch_words / max(seconds, 1e-9),
        "kernel_seconds_critical_path": float(kernel_max.sum()),
        "kernel_seconds_total": float(kernel_sum.sum()),
        "wait_seconds_total": float(wait.sum()),
        "stratum_max_over_mean": float(strata.max() / max(strata.mean(), 1e-9)),
        "task_kernel_max_over_mean": float(kernel_max.sum() / max(kernel_sum.sum() / len(reports), 1e-9)),
        "bytes_ring": int(sum(r.bytes_sent for r in reports)),
        "bytes_state_read": int(sum(r.bytes_read for r in reports)),
        "bytes_state_written": int(sum(r.bytes_written for r in reports)),
        # where the ring's bytes went; the store holds only states unless ring = "store"
        "bytes_peer": int(sum(r.bytes_peer for r in reports)),
        "bytes_shared_memory": int(sum(r.bytes_shared_memory for r in reports)),
        "bytes_ring_store_written": int(sum(r.bytes_ring_store_written for r in reports)),
        "bytes_ring_store_read": int(sum(r.bytes_ring_store_read for r in reports)),
        "bytes_store_written": int(sum(r.bytes_written + r.bytes_ring_store_written for r in reports)),
        "bytes_store_read": int(sum(r.bytes_read + r.bytes_ring_store_read for r in reports)),
        # the task that waited longest for W' blocks: seconds, and over its own kernel time
        "wait_seconds_max_task": float(max(r.wait_seconds.sum() for r in reports)),
        "wait_over_kernel_max": float(max(r.wait_seconds.sum() / max(r.kernel_seconds.sum(), 1e-9)
                                          for r in reports)),
        "bytes_pairs": int(pairs.sum()) * (4 if reports and reports[0].timings.get("compact_pairs") else 8),
        "task_timings_max": {key: float(max(r.timings.get(key, 0.0) for r in reports)) for key in timing_keys},
        # the largest Python worker that ran a training task (peak RSS over its life), bytes
        "task_peak_rss_bytes_max": int(max((r.peak_rss_bytes for r in reports), default=0)),
    }
    return {"epoch": epoch, "loss": float(loss.sum() / max(loss_pairs.sum(), 1)), "pairs": int(pairs.sum()),
            "seconds": seconds, "words": epoch_words, "cycles": cycles, "stats": stats}
