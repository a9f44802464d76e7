"""W' blocks from a training task to its neighbour over the network: one Arrow Flight block
server per task of an epoch's barrier stage.

Why Arrow Flight (``pyarrow.flight``): pyarrow is already a dependency (Flight adds no package on
the executors); it is gRPC over HTTP/2, a maintained transport with flow control, deadlines,
cancellation and TLS, whose DoPut streams record batches whose buffers go to the socket
without a copy into Python objects; a hand-written socket protocol would have to re-do framing,
partial reads, timeouts and error reporting. Measured (``jobs/bench_handover.py``): see the
issue-16 report and the README.

Protocol. A block is one DoPut whose descriptor is a command, JSON::

    {"head": {"v": 3, "run", "epoch", "attempt", "sender", "address", "cycle", "sub_epoch",
              "block", "shape": [n, d], "nbytes"}, "mac": hex}

where ``mac`` = HMAC-SHA256(secret, the head as canonical JSON): the per-run secret the driver
draws never travels, and a head cannot be altered or replayed into another run, epoch or
attempt. The data follow as record batches of one float32 column ``rows`` (the block's rows,
row-major), at most CHUNK_BYTES each, then the XXH3-64 hash of all their bytes
(:func:`block_checksum`, 16 hex digits) as the stream's last application metadata: both ends
hash chunk by chunk while the bytes travel, instead of one pass over the block before the
first byte leaves.

Why XXH3-64 (the ``xxhash`` package) and not a cryptographic hash or CRC-32: the checksum is
there to catch bytes damaged or lost on the way (and a sender that cut a block short); it
travels after the bytes, unsigned, so no hash of them could stop someone on the path from
changing them, and what refuses puts from anyone without the run's secret is the MAC on the
head. XXH3-64 guarantees no class of errors (CRC-32 caught every burst of up to 32 bits), but
as a well-mixed 64-bit hash it lets a random change through with a chance of about 2^-64 (and
damage reaches it only past TCP's checksum and the link's CRC). A hand-over is CPU on the cores that train, on
both ends, so its speed counts: XXH3-64 hashes a block at 43-58 GB/s where ``zlib.crc32``
(protocol 2) runs at 2.6-4.2 GB/s and sha256 (protocol 1) at 1.8 GB/s (3.1 MB in 1 MiB pieces,
this project's 2-core machine); CRC-32 was still a third of a hand-over's CPU
(``jobs/bench_handover.py cpu``, README). The server of task t accepts a block
only if the MAC verifies, (run, epoch, attempt) are its own and the sender is its neighbour
t + 1 (mod T), and takes each (cycle, sub-epoch, block) once; it then checks the byte count and
checksum of what arrived, and the receiving task checks the shape against its layout. Anything else is recorded
as a :class:`PeerError` naming the sender (task and address), the put is refused, and the
task's next receive raises it: the barrier stage fails and the driver trains the epoch again
from its state (``trainer._run_epoch_with_retries``), as for a lost executor.

A task that diverged or whose store failed tells every other task to stop with an ``abort``
action (signed the same way); their receives then raise ``blockstore.Aborted``.

Tasks on one host (the same id in their ``/dev/shm``: two network namespaces with their own
``/dev/shm`` count as two hosts) hand blocks through shared memory instead
(``blockstore.FileExchange`` with zero copy), unless the run forces the network (``ring =
"peer"``). No block in transit is written to the block store.

A task finds its neighbours' servers in the stage's :class:`PhoneBook` (one small signed file
per task in the block store), not through Spark's ``allGather``, which costs a second. Blocks
to one neighbour go out :data:`PIPELINE` puts at a time over one connection.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import queue
import random
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.flight as flight
import xxhash

from .errors import SparkW2VError

# 3: the bytes' checksum is XXH3-64 (2: CRC-32, 1: sha256); a head of another version is refused
PROTOCOL = 3
# what the checksum is called in refusals
CHECKSUM = "XXH3-64"
# the largest record batch of a put: far below gRPC's 2 GiB message bound, big enough that the
# per-batch cost (tens of microseconds) is little next to the bytes, small enough that checksumming
# and copying one batch overlaps the transfer of the next (1 MiB: 1.4 GB/s on loopback with
# the receiver's copy, against 1.1 GB/s at 4 MiB and 0.6 GB/s at 64 MiB)
CHUNK_BYTES = 1 << 20
SCHEMA = pa.schema([("rows", pa.float32())])
SHARED_MEMORY = "/dev/shm"
HOST_ID_FILE = "sparkw2v-host-id"
# how long an abort message or a connection may take before it is given up
ACTION_TIMEOUT = 10.0


class PeerError(SparkW2VError, RuntimeError):
    """A W' block could not be handed over the network, or a stray or damaged one arrived.

    The message names the sending task and its address. Raised in a training task it fails the
    barrier stage, and the driver trains the epoch again from its state."""


@dataclass(frozen=True)
class Stage:
    """Which barrier stage a block server serves: blocks of any other are refused.

    Attributes:
        run: the run id (``BlockStore.new_run``); epoch: the epoch (0-based); attempt: the
            driver's attempt at it; num_tasks: T, the tasks of the ring.
    """

    run: str
    epoch: int
    attempt: int
    num_tasks: int

    def fields(self) -> dict:
        return {"run": self.run, "epoch": self.epoch, "attempt": self.attempt}


@dataclass(frozen=True)
class Peer:
    """One task of the stage as it announced itself (its entry in the stage's :class:`PhoneBook`).

    Attributes:
        task: its partition id; address: "host:port" of its block server; host: its host id
        (:func:`host_id`); shared_memory: whether its host's /dev/shm has room for its blocks.
    """

    task: int
    address: str
    host: str
    shared_memory: bool

    def to_json(self) -> str:
        return json.dumps({"task": self.task, "address": self.address, "host": self.host,
                           "shm": self.shared_memory})

    @classmethod
    def from_json(cls, text: str) -> "Peer":
        d = json.loads(text)
        return cls(int(d["task"]), str(d["address"]), str(d["host"]), bool(d["shm"]))


def sign(secret: str, head: dict) -> str:
    """HMAC-SHA256 (hex) of ``head`` as canonical JSON, keyed with ``secret``."""
    return hmac.new(secret.encode(), json.dumps(head, sort_keys=True).encode(), hashlib.sha256).hexdigest()


def _signed(secret: str, head: dict) -> bytes:
    return json.dumps({"head": head, "mac": sign(secret, head)}).encode()


def host_id(shared_memory: str = SHARED_MEMORY) -> str:
    """"hostname/uuid": the uuid is kept in a file of ``shared_memory``, made by the first task
    that asks, so every process that sees the same /dev/shm gets the same id and processes of
    two namespaces with their own /dev/shm get two. Without a /dev/shm: a fresh uuid (such a
    process shares memory with nobody)."""
    name = socket.gethostname()
    path = os.path.join(shared_memory, HOST_ID_FILE)
    try:
        try:
            with open(path) as fh:
                ident = fh.read().strip()
        except FileNotFoundError:
            tmp = f"{path}.{os.getpid()}.{uuid.uuid4().hex}"
            with open(tmp, "w") as fh:
                fh.write(uuid.uuid4().hex)
            try:
                os.link(tmp, path)  # atomic: one id wins if tasks race
            except FileExistsError:
                pass
            finally:
                os.remove(tmp)
            with open(path) as fh:
                ident = fh.read().strip()
    except OSError:
        ident = ""
    return f"{name}/{ident or 'private-' + uuid.uuid4().hex}"


def shared_memory_room(nbytes: int, shared_memory: str = SHARED_MEMORY) -> bool:
    """Whether ``shared_memory`` exists and has room for ``nbytes`` with a margin."""
    try:
        st = os.statvfs(shared_memory)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize >= 1.25 * nbytes + (64 << 20)


def _ports(ports: tuple[int, int]) -> list[int]:
    """The ports to try, in an order that differs between processes (tasks starting at once on
    one host rarely race for the same port; a lost race just moves on)."""
    lo, hi = ports
    if lo == 0:
        return [0]
    span = list(range(lo, hi + 1))
    start = random.Random(os.getpid() ^ time.monotonic_ns()).randrange(len(span))
    return span[start:] + span[:start]


class BlockServer(flight.FlightServerBase):
    """The block server of one task: takes W' blocks from its neighbour into a queue.

    Start it with :meth:`start`. Blocks wait in the queue, keyed by (cycle, sub-epoch, block),
    until :meth:`take` asks for them; anything refused is kept as the first error and raised by
    every later :meth:`take` or :meth:`check`.

    Args:
        location: "grpc+tcp://HOST:PORT"; stage, task: whom it serves; secret: the run's secret.
    """

    def __init__(self, location: str, stage: Stage, task: int, secret: str):
        super().__init__(location)
        self.stage = stage
        self.task = task
        self._secret = secret
        self._cond = threading.Condition()
        self._blocks: dict[tuple[int, int, int], np.ndarray] = {}
        self._seen: set[tuple[int, int, int]] = set()
        self._error: PeerError | None = None
        self._aborted: dict | None = None
        self.bytes_received = 0
        self.host = location.rsplit("//", 1)[1].rsplit(":", 1)[0]

    def __repr__(self) -> str:  # never the secret
        return f"BlockServer(task={self.task}, address={self.address!r}, stage={self.stage!r})"

    @classmethod
    def start(cls, host: str, ports: tuple[int, int], stage: Stage, task: int, secret: str) -> "BlockServer":
        """A server listening on ``host`` only, on a port of ``ports`` ((0, 0): any free port).

        Raises:
            PeerError: no port of the range could be bound (naming host, range and fix).
        """
        last = None
        for port in _ports(ports):
            try:
                return cls(f"grpc+tcp://{host}:{port}", stage, task, secret)
            except (pa.ArrowException, OSError) as exc:  # port taken: "Server did not start properly"
                last = exc
        what = "any port" if ports[0] == 0 else f"a port in {ports[0]}-{ports[1]}"
        raise PeerError(f"task {task}: the W' block server could not listen on {what} of {host} ({last}): free "
                        "ports of that range or widen peer_ports (the firewall must let the executors reach "
                        "each other on it)")

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    # ------------------------------------------------------------------ refusing

    def _refuse(self, message: str, unauthenticated: bool = False):
        """Record the first refusal (for the task's receive) and refuse the call."""
        with self._cond:
            if self._error is None:
                self._error = PeerError(message)
            self._cond.notify_all()
        raise (flight.FlightUnauthenticatedError if unauthenticated else flight.FlightServerError)(message)

    def _admit(self, command: bytes, peer: str, kind: str) -> dict:
        """The head of a signed message, checked: MAC, protocol, run, epoch, attempt, sender."""
        try:
            message = json.loads(command)
            head, mac = message["head"], str(message["mac"])
            sender, address = int(head["sender"]), str(head["address"])
        except (ValueError, KeyError, TypeError):
            self._refuse(f"task {self.task} of epoch {self.stage.epoch + 1}: a stray {kind} from {peer} (not a "
                         "sparkw2v message): something else reached the W' block server's port", True)
        who = f"task {sender} at {address} (connection {peer})"
        if not hmac.compare_digest(mac, sign(self._secret, head)):
            self._refuse(f"task {self.task} of epoch {self.stage.epoch + 1}: a stray {kind} from {who}: wrong "
                         "secret (another run's task, or a damaged message)", True)
        got = {k: head.get(k) for k in ("run", "epoch", "attempt")}
        if head.get("v") != PROTOCOL or got != self.stage.fields():
            self._refuse(f"task {self.task}: a stray {kind} from {who}: it belongs to run {got['run']} epoch "
                         f"{got['epoch']} attempt {got['attempt']} (protocol {head.get('v')}), this server to run "
                         f"{self.stage.run} epoch {self.stage.epoch} attempt {self.stage.attempt} (protocol "
                         f"{PROTOCOL}): a task of another stage attempt", True)
        return head

    # ------------------------------------------------------------------ Flight calls

    def do_put(self, context, descriptor, reader, writer):
        head = self._admit(descriptor.command, context.peer(), "W' block")
        who = f"task {head['sender']} at {head['address']}"
        expected = (self.task + 1) % self.stage.num_tasks
        try:
            key = (int(head["cycle"]), int(head["sub_epoch"]), int(head["block"]))
            n, d = (int(x) for x in head["shape"])
            nbytes = int(head["nbytes"])
        except (KeyError, TypeError, ValueError):
            self._refuse(f"task {self.task}: a damaged W' block from {who}: its head lacks a field ({head})")
        what = f"W' block {key[2]} (cycle {key[0]}, sub-epoch {key[1]})"
        if int(head["sender"]) != expected:
            self._refuse(f"task {self.task}: a stray {what} from {who}: only task {expected}, the next in the "
                         "ring, hands blocks to this task")
        if n < 0 or d < 0 or nbytes != n * d * 4:
            self._refuse(f"task {self.task}: a damaged {what} from {who}: {nbytes} bytes declared for shape "
                         f"({n}, {d}) float32")
        with self._cond:
            if key in self._seen:
                self._refuse(f"task {self.task}: a stray {what} from {who}: that block was handed over already")
            self._seen.add(key)
        out = np.empty(n * d, np.float32)
        digest, got, stated = xxhash.xxh3_64(), 0, None
        while True:
            try:
                chunk = reader.read_chunk()
            except StopIteration:
                break
            if chunk.app_metadata is not None:
                stated = chunk.app_metadata.to_pybytes().decode("ascii", "replace")
            if chunk.data is None:
                continue
            column = chunk.data.column(0) if chunk.data.num_columns == 1 else None
            if column is None or column.type != pa.float32() or column.null_count:
                self._refuse(f"task {self.task}: a damaged {what} from {who}: a batch that is not float32 rows")
            k = len(column)
            if got + k > out.shape[0]:
                self._refuse(f"task {self.task}: a damaged {what} from {who}: more than the {nbytes} bytes declared")
            part = out[got:got + k]
            part[:] = np.frombuffer(column.buffers()[1], np.float32, count=k, offset=column.offset * 4)
            digest.update(part)
            got += k
        if got != out.shape[0]:
            self._refuse(f"task {self.task}: a damaged {what} from {who}: {got * 4} bytes arrived, {nbytes} "
                         "declared (truncated)")
        if stated is None:
            self._refuse(f"task {self.task}: a damaged {what} from {who}: no {CHECKSUM} checksum after its bytes "
                         "(cut short)")
        if digest.hexdigest() != stated:
            self._refuse(f"task {self.task}: a damaged {what} from {who}: {CHECKSUM} {digest.hexdigest()} of the "
                         f"{nbytes} bytes that arrived differs from the sender's {stated[:24]!r}")
        with self._cond:
            self._blocks[key] = out.reshape(n, d)
            self.bytes_received += nbytes
            self._cond.notify_all()

    def do_action(self, context, action):
        if action.type != "abort":
            raise flight.FlightServerError(f"unknown action {action.type!r}")
        head = self._admit(action.body.to_pybytes(), context.peer(), "abort message")
        with self._cond:
            if self._aborted is None:
                self._aborted = head
            self._cond.notify_all()
        return []

    def list_actions(self, context):
        return [("abort", "stop this stage attempt: another task diverged or failed")]

    # ------------------------------------------------------------------ the task's side

    def check(self) -> None:
        """Raise the first refusal (PeerError) or, if another task said so, Aborted."""
        from .blockstore import Aborted

        with self._cond:
            if self._error is not None:
                raise self._error
            if self._aborted is not None:
                raise Aborted(f"task {self.task}: task {self._aborted.get('sender')} stopped the epoch")

    def take(self, cycle: int, sub_epoch: int, block: int, shape: tuple[int, int], timeout: float) -> np.ndarray:
        """Wait for a block, remove it from the queue and return it ((n, d) float32, writable).

        Raises:
            PeerError: a stray or damaged block arrived (at any time), or this one has another shape.
            Aborted: another task stopped the epoch.
            TimeoutError: nothing came within ``timeout`` seconds (the neighbour died).
        """
        key = (cycle, sub_epoch, block)
        deadline = time.monotonic() + timeout
        with self._cond:
            while key not in self._blocks:
                self.check()
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"task {self.task} of {self.stage.num_tasks} waited {timeout:.0f} s for W' block {block} "
                        f"(cycle {cycle}, sub-epoch {sub_epoch}) on {self.address}: its neighbour task "
                        f"{(self.task + 1) % self.stage.num_tasks} stopped; Spark retries the stage")
                self._cond.wait(min(left, 0.5))
            self.check()
            rows = self._blocks.pop(key)
        if rows.shape != tuple(shape):
            raise PeerError(f"task {self.task}: a damaged W' block {block} (cycle {cycle}, sub-epoch {sub_epoch}) "
                            f"from task {(self.task + 1) % self.stage.num_tasks}: shape {rows.shape}, the layout "
                            f"says {tuple(shape)}")
        return rows


# ---------------------------------------------------------------------------- sending

def connect(address: str) -> flight.FlightClient:
    """A Flight client of the block server at "host:port"."""
    return flight.FlightClient(f"grpc+tcp://{address}")


def put_block(client: flight.FlightClient, secret: str, head: dict, rows: np.ndarray,
              timeout: float | None = None, chunk_bytes: int = CHUNK_BYTES, checksum: str | None = None) -> str:
    """Put one block: ``head`` (:func:`block_head`; shape and nbytes as the caller states them)
    signed with ``secret``, then ``rows`` ((n, d) float32) in batches of ``chunk_bytes``, then
    the XXH3-64 hash of their bytes (:func:`block_checksum`), computed batch by batch as they go
    (``checksum``: state this one instead, to test the receiver's check).

    Returns:
        the XXH3-64 hash (16 hex digits) of the bytes sent.

    Raises:
        flight.FlightError, pa.ArrowException: refused or not delivered (the server's reason
            is in the message).
    """
    flat = np.ascontiguousarray(rows, dtype=np.float32).reshape(-1)
    descriptor = flight.FlightDescriptor.for_command(_signed(secret, head))
    writer, _ = client.do_put(descriptor, SCHEMA, flight.FlightCallOptions(timeout=timeout))
    digest = xxhash.xxh3_64()
    try:
        step = max(1, chunk_bytes // 4)
        for start in range(0, flat.shape[0], step):
            part = flat[start:start + step]
            digest.update(part)
            column = pa.Array.from_buffers(pa.float32(), part.shape[0], [None, pa.py_buffer(part)])
            writer.write_batch(pa.record_batch([column], schema=SCHEMA))
        writer.write_metadata(pa.py_buffer((checksum or digest.hexdigest()).encode("ascii")))
        writer.done_writing()
    finally:
        writer.close()
    return digest.hexdigest()


def block_checksum(data) -> str:
    """A block's checksum as it travels: the XXH3-64 hash (``xxhash.xxh3_64``, seed 0) of the
    bytes of ``data`` (bytes or a C-contiguous array) as 16 lowercase hex digits; hashing the
    bytes piece by piece in order gives the same digest."""
    return xxhash.xxh3_64(data).hexdigest()


def block_head(stage: Stage, sender: int, address: str, cycle: int, sub_epoch: int, block: int,
               rows: np.ndarray) -> dict:
    """The head of a block put: who sends what, its shape and byte count (its checksum
    follows the bytes, see :func:`put_block`)."""
    return {"v": PROTOCOL, **stage.fields(), "sender": sender, "address": address, "cycle": cycle,
            "sub_epoch": sub_epoch, "block": block, "shape": [int(x) for x in rows.shape],
            "nbytes": int(rows.size) * 4}


# puts in flight at once to one neighbour: while one waits for the server's answer (its copy,
# checksum and checks, then a round trip), the next one's bytes travel. 96 blocks of 711 KB
# between two processes on loopback (2 cores), protocol 1: 2.3 ms a block one put at a time,
# 2.0-2.4 with 2, 1.5-1.7 with 3 or 4 (about 450 MB/s; its two sha256 passes were 0.4 ms each)
PIPELINE = 3


class _Sender:
    """Puts blocks to one neighbour in the background, so the task trains meanwhile: the blocks
    are queued in the order the task sends them and taken by :data:`PIPELINE` threads, each
    running one put at a time over one shared Flight client (one HTTP/2 connection, one stream
    per put), so that several puts are in flight and the link stays busy.

    The first failure is kept (:attr:`error`); later blocks are dropped. :attr:`seconds`: the
    time during which at least one put was in flight (not the sum over threads)."""

    def __init__(self, address: str, secret: str, stage: Stage, task: int, own_address: str, timeout: float,
                 pipeline: int = PIPELINE):
        self.address, self._secret, self.stage, self.task = address, secret, stage, task
        self.own_address, self.timeout = own_address, timeout
        self.queue: queue.Queue = queue.Queue()
        self.error: PeerError | None = None
        self.bytes_sent = 0
        self.seconds = 0.0
        self._lock = threading.Lock()
        self._in_flight = 0
        self._busy_since = 0.0
        self._client: flight.FlightClient | None = connect(address)  # gRPC connects at the first call
        self._threads = [threading.Thread(target=self._run, daemon=True, name=f"sparkw2v-peer-send-{task}-{i}")
                         for i in range(max(1, pipeline))]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def _run(self) -> None:
        while True:
            item = self.queue.get()
            try:
                if item is None:
                    return
                if self.error is None:
                    self._put(*item)
            finally:
                self.queue.task_done()

    def _put(self, cycle: int, sub_epoch: int, block: int, rows: np.ndarray, on_sent: Callable | None) -> None:
        with self._lock:
            if self._in_flight == 0:
                self._busy_since = time.perf_counter()
            self._in_flight += 1
        try:
            head = block_head(self.stage, self.task, self.own_address, cycle, sub_epoch, block, rows)
            put_block(self._client, self._secret, head, rows, self.timeout)
        except Exception as exc:  # noqa: BLE001 - kept and raised in the task (FlightError, ArrowException, OSError, ...)
            with self._lock:
                if self.error is None:
                    self.error = PeerError(
                        f"task {self.task} at {self.own_address}: handing W' block {block} (cycle {cycle}, sub-epoch "
                        f"{sub_epoch}) to task {(self.task - 1) % self.stage.num_tasks} at {self.address} failed: "
                        f"{' '.join(str(exc).split())[:600]}")
            return
        finally:
            with self._lock:
                self._in_flight -= 1
                if self._in_flight == 0:
                    self.seconds += time.perf_counter() - self._busy_since
        with self._lock:
            self.bytes_sent += rows.nbytes
        if on_sent is not None:
            on_sent(rows)

    def join(self, timeout: float | None = None) -> None:
        """Stop the threads (after the blocks queued so far) and wait for them."""
        for _ in self._threads:
            self.queue.put(None)
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self._threads:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


# ---------------------------------------------------------------------------- the ring

# how often a task looks for its neighbour's entry in the phone book: at first soon (the
# tasks of a barrier stage start within milliseconds of each other), then less often
LOOKUP_POLL = (0.002, 0.05)


class PhoneBook:
    """Where the tasks of one stage attempt find each other's block servers: one signed entry
    per task (its :class:`Peer`) in a directory of the block store.

    Not Spark's ``BarrierTaskContext.allGather``: its JVM side polls for the gathered result
    once a second (``Thread.sleep(1000)`` in ``BarrierTaskContext.runBarrier``, Spark 3 and 4),
    so a gather cost every task of every epoch a full second (``ring_setup_seconds`` 1.0 s on an
    idle machine). Here a task writes its entry when its server listens and reads only its two
    neighbours', which are there within milliseconds; the driver removes the directory with
    the epoch's other scratch files (``BlockStore.remove_run``).

    An entry is ``{"head": {v, run, epoch, attempt, task, address, host, shm}, "mac"}`` with the
    MAC of :func:`sign`: an entry of another run, epoch or attempt, or one not written with the
    run's secret, is refused (:class:`PeerError`), so nobody who can write the store but lacks
    the secret can send a task's blocks elsewhere.

    Args:
        fs: the store's fsspec filesystem; directory: the stage attempt's directory in it;
        secret: the run's secret; stage: the stage attempt.
    """

    def __init__(self, fs, directory: str, secret: str, stage: Stage):
        self.fs, self.directory, self._secret, self.stage = fs, directory, secret, stage

    def __repr__(self) -> str:  # never the secret
        return f"PhoneBook({self.directory!r}, stage={self.stage!r})"

    def _path(self, task: int) -> str:
        return f"{self.directory.rstrip('/')}/peer-t{task:05d}.json"

    def publish(self, me: Peer) -> None:
        """Write this task's entry (under a temporary name, then renamed: never read half)."""
        head = {"v": PROTOCOL, **self.stage.fields(), "task": me.task, "address": me.address, "host": me.host,
                "shm": me.shared_memory}
        path = self._path(me.task)
        tmp = f"{path}.tmp-{uuid.uuid4().hex}"
        self.fs.makedirs(self.directory, exist_ok=True)
        self.fs.pipe_file(tmp, _signed(self._secret, head))
        self.fs.mv(tmp, path)

    def _read(self, task: int) -> Peer | None:
        try:
            text = self.fs.cat_file(self._path(task))
        except (FileNotFoundError, OSError):
            return None
        where = f"the block store's entry of task {task} ({self._path(task)})"
        try:
            message = json.loads(text)
            head, mac = message["head"], str(message["mac"])
            entry = Peer(int(head["task"]), str(head["address"]), str(head["host"]), bool(head["shm"]))
        except (ValueError, KeyError, TypeError):
            raise PeerError(f"{where} is not a sparkw2v entry: something else wrote there") from None
        if not hmac.compare_digest(mac, sign(self._secret, head)):
            raise PeerError(f"{where} is not signed with this run's secret (another run's, or damaged)")
        got = {k: head.get(k) for k in ("run", "epoch", "attempt")}
        if head.get("v") != PROTOCOL or got != self.stage.fields() or entry.task != task:
            raise PeerError(f"{where} belongs to task {entry.task} of run {got['run']} epoch {got['epoch']} "
                            f"attempt {got['attempt']}, not to run {self.stage.run} epoch {self.stage.epoch} "
                            f"attempt {self.stage.attempt}")
        return entry

    def lookup(self, task: int, timeout: float, interrupt: Callable[[], None] | None = None) -> Peer:
        """Task ``task``'s entry, waiting for it (polling every 2 ms at first, then up to 50 ms).

        Raises:
            PeerError: the entry there is not this stage's (see the class).
            TimeoutError: none came within ``timeout`` seconds (that task did not start).
            whatever ``interrupt`` raises (called between polls).
        """
        deadline = time.monotonic() + timeout
        pause = LOOKUP_POLL[0]
        while True:
            entry = self._read(task)
            if entry is not None:
                return entry
            if interrupt is not None:
                interrupt()
            if time.monotonic() > deadline:
                raise TimeoutError(f"task {task} of {self.stage.num_tasks} did not say where its W' block server "
                                   f"listens within {timeout:.0f} s ({self._path(task)}): it did not start; "
                                   "Spark retries the stage")
            time.sleep(pause)
            pause = min(2 * pause, LOOKUP_POLL[1])

    def known(self) -> list[Peer]:
        """The entries written so far (for an abort: best effort, no wait, damaged ones left out)."""
        out = []
        for task in range(self.stage.num_tasks):
            try:
                entry = self._read(task)
            except PeerError:
                continue
            if entry is not None:
                out.append(entry)
        return out


def neighbours(book: PhoneBook, me: Peer, timeout: float, interrupt: Callable[[], None] | None = None) -> list[Peer]:
    """Publish ``me`` and return the entries of this task and its ring neighbours t - 1 and
    t + 1 (mod T; one, two or three tasks), by task.

    Raises:
        PeerError: a neighbour's entry is not this stage's, or two tasks announced one address
            (a port bound twice).
        TimeoutError: a neighbour did not publish within ``timeout`` seconds.
    """
    book.publish(me)
    T = book.stage.num_tasks
    tasks = sorted({me.task, (me.task - 1) % T, (me.task + 1) % T})
    peers = [me if t == me.task else book.lookup(t, timeout, interrupt) for t in tasks]
    addresses = [p.address for p in peers]
    if len(set(addresses)) != len(addresses):
        raise PeerError(f"tasks of one stage announced the same block server address ({addresses}): a port "
                        "was bound twice; the stage is tried again")
    return peers


def same_host(a: Peer, b: Peer) -> bool:
    """Whether two tasks hand blocks through shared memory: one host id, and room on it."""
    return a.host == b.host and a.shared_memory and b.shared_memory


class PeerExchange:
    """The W' ring of one task (the ``worker.Exchange`` protocol) over Flight and, between
    tasks of one host, shared memory.

    Sends to task t - 1 go out in the background (:class:`_Sender`), so the task trains while
    the bytes travel; blocks from task t + 1 wait in this task's :class:`BlockServer` until
    asked for. :meth:`flush` waits for every send and raises the first failure.

    Args:
        server: this task's running block server; peers: this task and its neighbours t - 1
            and t + 1 at least (:func:`neighbours`), any order; secret: the run's secret;
            timeout: seconds to wait for a block.
        local: a ``blockstore.FileExchange`` in shared memory for neighbours on this host
            (None: everything over the network).
        force_network: hand every block over Flight, even to a task on this host.
        everyone: every task's entry known now (``PhoneBook.known``), whom an abort tells to
            stop (None: ``peers``).
    """

    def __init__(self, server: BlockServer, peers: list[Peer], secret: str, timeout: float,
                 local=None, force_network: bool = False, everyone: Callable[[], list[Peer]] | None = None):
        self.server = server
        self.task = server.task
        self.num_tasks = server.stage.num_tasks
        self.peers = {p.task: p for p in peers}
        self._everyone = everyone
        self._secret = secret
        self.timeout = timeout
        me = self.peers[self.task]
        prev, nxt = self.peers[(self.task - 1) % self.num_tasks], self.peers[(self.task + 1) % self.num_tasks]
        usable = local is not None and not force_network
        self.send_local = usable and same_host(me, prev)
        self.receive_local = usable and same_host(me, nxt)
        self.local = local
        if local is not None:
            local.interrupt = server.check  # a stray block or an abort stops a wait in shared memory too
        self.sender = None
        if not self.send_local:
            self.sender = _Sender(prev.address, secret, server.stage, self.task, server.address, timeout)
            self.sender.start()
        self.bytes_shared_memory = 0

    def __repr__(self) -> str:  # never the secret
        return (f"PeerExchange(task={self.task}, server={self.server.address!r}, send_local={self.send_local}, "
                f"receive_local={self.receive_local})")

    def send(self, cycle: int, sub_epoch: int, block: int, rows: np.ndarray) -> None:
        self.server.check()
        if self.send_local:
            self.local.send(cycle, sub_epoch, block, rows)
            self.bytes_shared_memory += rows.nbytes
            return
        if self.sender.error is not None:
            raise self.sender.error
        # a block mapped from shared memory leaves this host: its file goes once it is sent
        on_sent = _remove_mapping if isinstance(rows, np.memmap) and rows.filename else None
        self.sender.queue.put((cycle, sub_epoch, block, rows, on_sent))

    def receive(self, cycle: int, sub_epoch: int, block: int, shape: tuple[int, int]) -> np.ndarray:
        if self.sender is not None and self.sender.error is not None:
            raise self.sender.error
        if self.receive_local:
            return self.local.receive(cycle, sub_epoch, block, shape)
        return self.server.take(cycle, sub_epoch, block, shape, self.timeout)

    def receive_copy(self, cycle: int, sub_epoch: int, block: int, shape: tuple[int, int]) -> np.ndarray:
        """As :meth:`receive`, into memory (``blockstore.in_memory``)."""
        from .blockstore import in_memory

        return in_memory(self.receive(cycle, sub_epoch, block, shape))

    def flush(self) -> None:
        """Wait until every block sent is delivered.

        Raises:
            PeerError: a send failed, or a stray or damaged block arrived meanwhile.
        """
        if self.sender is not None:
            self.sender.queue.join()
            if self.sender.error is not None:
                raise self.sender.error
        self.server.check()

    def abort(self, info: dict) -> None:
        """Tell every task of the stage to stop (this one diverged or failed); best effort."""
        head = {"v": PROTOCOL, **self.server.stage.fields(), "sender": self.task, "address": self.server.address,
                "reason": str(info.get("reason", ""))}
        body = _signed(self._secret, head)
        try:
            everyone = self._everyone() if self._everyone is not None else list(self.peers.values())
        except Exception:  # noqa: BLE001 - best effort: the neighbours at least
            everyone = list(self.peers.values())
        for peer in everyone:
            if peer.task == self.task:
                continue
            try:
                client = connect(peer.address)
                try:
                    list(client.do_action(flight.Action("abort", body), flight.FlightCallOptions(timeout=ACTION_TIMEOUT)))
                finally:
                    client.close()
            except (flight.FlightError, pa.ArrowException, OSError):  # that task is gone already
                pass
        if self.local is not None:
            self.local.abort(info)

    @property
    def bytes_peer(self) -> int:
        """Bytes this task put over the network."""
        return self.sender.bytes_sent if self.sender is not None else 0

    @property
    def send_seconds(self) -> float:
        return self.sender.seconds if self.sender is not None else 0.0

    def close(self) -> None:
        """Stop the sender (blocks not yet sent are dropped) and the server; remove the blocks
        this task holds in shared memory (the task has written what it needed of them)."""
        if self.sender is not None:
            self.sender.join(timeout=ACTION_TIMEOUT)
            self.sender.close()
        self.server.shutdown()
        if self.local is not None:
            prefix = f"held-{self.task:05d}-"
            directory = self.local.directory
            try:
                for name in os.listdir(directory):
                    if name.startswith(prefix):
                        os.remove(os.path.join(directory, name))
                # the last task of the host to end removes the directories (the run's, the
                # epoch attempt's): rmdir fails while another task still holds blocks there
                for _ in range(3):
                    os.rmdir(directory)
                    directory = os.path.dirname(directory)
            except OSError:
                pass


def _remove_mapping(rows: np.memmap) -> None:
    try:
        os.remove(rows.filename)
    except OSError:
        pass
