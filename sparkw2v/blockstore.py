"""Where W and W' live between and during epochs, and how their blocks move: one fsspec directory.

The driver never holds W or W'. Executors create, read and write their blocks here; the
directory must be one that the driver and every executor see (any local path in local mode;
HDFS, S3, NFS, ... on a cluster)::

    WORK/state-000003/W-00005.npy   W block 5 of epoch 2's layout after epoch 2, rows sorted by
                                    (block in epoch 3's layout, word id)
    WORK/state-000003/Wp-00005.npy  the same for W'
    WORK/state-000003/state.json    written last, by the driver: the state is complete
    WORK/run-<id>/e0002-a0/         W' blocks in transit between neighbouring tasks of epoch 2
                                    (the driver's attempt 0), each read once and removed
    WORK/run-<id>/status/           one small JSON per (epoch, attempt, cycle, task), for progress lines

A state is the whole model after some epochs, so states are the checkpoints. Sorting each
block's rows by their next block lets a task of the next epoch read its new blocks as one byte
range of every file. Files are written under a temporary name and renamed, so a reader never
sees half a file; an epoch the driver runs again writes exactly the same bytes (everything is
a function of the seed), and its blocks in transit go to a directory of their own, so the tasks
of a failed attempt that have not yet died can never take a block meant for the new ones.
"""

from __future__ import annotations

import contextlib
import json
import os
import posixpath
import time
import uuid
import numpy as np

from . import storage
from .layout import BlockLayout

STATE_PREFIX = "state-"
STATE_FILE = "state.json"
MATRICES = ("W", "Wp")


class Aborted(Exception):
    """Another task of the epoch stopped (it diverged): this one stops too."""


def _is_local(fs) -> bool:
    return "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,))


class BlockStore:
    """The work directory of one training output (see the module docstring).

    Args:
        url: a directory URL or path every executor and the driver can read and write.
    """

    def __init__(self, url: str):
        self.url = url
        self.fs, self.root = storage.url_to_fs(url)
        self.local = _is_local(self.fs)

    def __reduce__(self):  # executors rebuild the filesystem object from the URL
        return (BlockStore, (self.url,))

    def _path(self, *parts: str) -> str:
        return posixpath.join(self.root, *parts)

    # ------------------------------------------------------------------ states

    def state_dir(self, epochs_done: int) -> str:
        return self._path(f"{STATE_PREFIX}{epochs_done:06d}")

    def block_path(self, epochs_done: int, matrix: str, block: int) -> str:
        return posixpath.join(self.state_dir(epochs_done), f"{matrix}-{block:05d}.npy")

    def write_block(self, epochs_done: int, matrix: str, block: int, rows: np.ndarray,
                    layout: BlockLayout, next_layout: BlockLayout) -> int:
        """Write one trained block into the state after ``epochs_done`` epochs.

        Args:
            matrix: "W" or "Wp".
            block: its block id in ``layout`` (the layout it was trained in).
            rows: (n_b, N) float32, the block's rows in ``layout``'s local order.
            next_layout: the layout of the next epoch; rows are written sorted by their block in
                it (then by word id).

        Returns:
            bytes written.
        """
        perm = np.argsort(next_layout.labels[layout.members(block)], kind="stable")
        self._write_npy_rows(self.block_path(epochs_done, matrix, block), rows, perm)
        return int(perm.shape[0] * rows.shape[1] * 4)

    def read_block(self, epochs_done: int, matrix: str, block: int, prev_layout: BlockLayout,
                   layout: BlockLayout, vector_size: int) -> tuple[np.ndarray, int]:
        """Block ``block`` of ``layout`` from the state after ``epochs_done`` epochs, whose files
        hold the blocks of ``prev_layout``.

        Returns:
            ((n_b, N) float32 rows in ``layout``'s local order, bytes read).

        Raises:
            FileNotFoundError: a block file is missing (the state is incomplete).
        """
        parts, ids, nbytes = [], [], 0
        for old in range(prev_layout.num_blocks):
            members = prev_layout.members(old)
            labels = layout.labels[members]
            perm = np.argsort(labels, kind="stable")
            lo = int(np.count_nonzero(labels < block))
            hi = lo + int(np.count_nonzero(labels == block))
            if hi == lo:
                continue
            rows = self._read_rows(self.block_path(epochs_done, matrix, old), lo, hi, vector_size)
            parts.append(rows)
            ids.append(members[perm[lo:hi]])
            nbytes += rows.nbytes
        if not parts:
            return np.zeros((0, vector_size), np.float32), 0
        ids_all = np.concatenate(ids)
        order = np.argsort(ids_all, kind="stable")
        return np.concatenate(parts)[order], nbytes

    def read_matrix(self, epochs_done: int, matrix: str, layout: BlockLayout, next_layout: BlockLayout,
                    vector_size: int) -> np.ndarray:
        """A whole matrix ((V, N) float32, row = word id) from a state (for small models)."""
        out = np.empty((layout.labels.shape[0], vector_size), np.float32)
        for block in range(layout.num_blocks):
            members = layout.members(block)
            perm = np.argsort(next_layout.labels[members], kind="stable")
            out[members[perm]] = self._read_rows(self.block_path(epochs_done, matrix, block), 0,
                                                 members.shape[0], vector_size)
        return out

    def commit_state(self, epochs_done: int, state: dict) -> None:
        """Mark the state after ``epochs_done`` epochs complete (call after every block is in)."""
        path = posixpath.join(self.state_dir(epochs_done), STATE_FILE)
        self._write_bytes(path, (json.dumps({**state, "epochs_done": epochs_done}, indent=1) + "\n").encode())

    def states(self) -> list[int]:
        """Epoch counts of the complete states, ascending."""
        if not self.fs.exists(self.root):
            return []
        done = []
        for entry in self.fs.ls(self.root, detail=False):
            name = entry.rstrip("/").rsplit("/", 1)[-1]
            if name.startswith(STATE_PREFIX) and self.fs.exists(posixpath.join(entry, STATE_FILE)):
                done.append(int(name[len(STATE_PREFIX):]))
        return sorted(done)

    def read_state(self, epochs_done: int) -> dict:
        with self.fs.open(posixpath.join(self.state_dir(epochs_done), STATE_FILE), "r") as fh:
            return json.load(fh)

    def remove_state(self, epochs_done: int) -> None:
        """Remove a state: its marker first, so that it stops counting as complete."""
        path = self.state_dir(epochs_done)
        marker = posixpath.join(path, STATE_FILE)
        if self.fs.exists(marker):
            self.fs.rm(marker)
        if self.fs.exists(path):
            self.fs.rm(path, recursive=True)

    def remove_all(self) -> None:
        """Remove the whole work directory."""
        if self.fs.exists(self.root):
            self.fs.rm(self.root, recursive=True)

    # ------------------------------------------------------------------ runs

    def new_run(self) -> str:
        """A fresh run id (its scratch directory never holds an earlier run's files)."""
        return uuid.uuid4().hex[:16]

    def run_dir(self, run: str) -> str:
        return self._path(f"run-{run}")

    def exchange(self, run: str, epoch: int, attempt: int, task: int, num_tasks: int,
                 timeout: float = 1800.0, same_host: bool = False) -> "FileExchange":
        """The W' ring of one task in one attempt at ``epoch``.

        ``same_host``: every task of the ring runs on this machine (a local master), so a local
        store may hand blocks over without copying them (see :class:`FileExchange`).
        """
        return FileExchange(self, posixpath.join(self.run_dir(run), f"e{epoch:04d}-a{attempt}"), task,
                            num_tasks, timeout, zero_copy=same_host and self.local)

    def remove_run(self, run: str, epoch: int | None = None) -> None:
        """Remove a run's scratch files (of one epoch, or all)."""
        path = self.run_dir(run)
        if epoch is not None:
            if not self.fs.exists(path):
                return
            for entry in self.fs.ls(path, detail=False):
                if entry.rstrip("/").rsplit("/", 1)[-1].startswith(f"e{epoch:04d}-"):
                    self.fs.rm(entry, recursive=True)
            return
        if self.fs.exists(path):
            self.fs.rm(path, recursive=True)

    def report_cycle(self, run: str, epoch: int, attempt: int, cycle: int, task: int, info: dict) -> None:
        """A task says it finished a cycle (for the driver's progress lines)."""
        self._write_bytes(posixpath.join(self.run_dir(run), "status", f"e{epoch:04d}-a{attempt}-c{cycle:04d}-t{task:05d}.json"),
                          json.dumps(info).encode())

    def cycle_reports(self, run: str, epoch: int, attempt: int) -> dict[int, list[dict]]:
        """{cycle: [task infos]} reported so far in one attempt at ``epoch``."""
        path = posixpath.join(self.run_dir(run), "status")
        out: dict[int, list[dict]] = {}
        if not self.fs.exists(path):
            return out
        prefix = f"e{epoch:04d}-a{attempt}-c"
        for entry in self.fs.ls(path, detail=False):
            name = entry.rstrip("/").rsplit("/", 1)[-1]
            if name.startswith(prefix) and name.endswith(".json"):
                cycle = int(name[len(prefix):len(prefix) + 4])
                try:
                    out.setdefault(cycle, []).append(json.loads(self.fs.cat_file(entry)))
                except (OSError, ValueError):  # being renamed into place
                    continue
        return out

    # ------------------------------------------------------------------ bytes

    @contextlib.contextmanager
    def _writing(self, path: str):
        """A file open for writing under a temporary name beside ``path``: renamed to ``path``
        when the block ends, removed if it fails, so that a reader never sees half a file."""
        tmp = f"{path}.tmp-{uuid.uuid4().hex}"
        if self.local:
            os.makedirs(os.path.dirname(path), exist_ok=True)
        else:
            self.fs.makedirs(posixpath.dirname(path), exist_ok=True)
        try:
            with (open(tmp, "wb") if self.local else self.fs.open(tmp, "wb")) as fh:
                yield fh
            if self.local:
                os.replace(tmp, path)
            else:
                self.fs.mv(tmp, path)
        except BaseException:
            if self.local:
                with contextlib.suppress(FileNotFoundError):
                    os.remove(tmp)
            else:
                storage.remove_quietly(self.fs, tmp)
            raise

    def _write_bytes(self, path: str, data) -> None:
        with self._writing(path) as fh:
            fh.write(data)

    def _write_npy_rows(self, path: str, rows: np.ndarray, order: np.ndarray, chunk_bytes: int = 64 << 20) -> None:
        """Write ``rows[order]`` ((n, N) float32) as a .npy file, streaming: a chunk of rows at
        a time, so that a block of several GB needs no second copy in memory."""
        n, width = order.shape[0], rows.shape[1]
        header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)), "fortran_order": False,
                  "shape": (n, width)}
        step = max(1, chunk_bytes // max(1, width * 4))
        with self._writing(path) as fh:
            np.lib.format.write_array_header_1_0(fh, header)
            for start in range(0, n, step):
                fh.write(np.ascontiguousarray(rows[order[start:start + step]], dtype=np.float32).data)

    def _read_rows(self, path: str, lo: int, hi: int, vector_size: int) -> np.ndarray:
        with (open(path, "rb") if self.local else self.fs.open(path, "rb")) as fh:
            version = np.lib.format.read_magic(fh)
            shape, _, dtype = (np.lib.format.read_array_header_1_0(fh) if version == (1, 0)
                               else np.lib.format.read_array_header_2_0(fh))
            if dtype != np.float32 or len(shape) != 2 or shape[1] != vector_size or shape[0] < hi:
                raise ValueError(f"block file {path} holds {dtype} {shape}, not float32 rows "
                                 f"[{lo}, {hi}) of {vector_size} components")
            fh.seek(fh.tell() + lo * vector_size * 4)
            out = np.empty((hi - lo, vector_size), np.float32)
            view = memoryview(out).cast("B")
            got = 0
            while got < view.nbytes:
                n = fh.readinto(view[got:])
                if not n:
                    raise ValueError(f"block file {path} is truncated")
                got += n
        return out


class FileExchange:
    """The W' ring of one task through files: send = write and rename, receive = wait, read and
    remove (each handed-over block has exactly one reader).

    With ``zero_copy`` (every task on this machine, a local directory; the trainer gives it one in
    shared memory, where mapped pages are never written back to a disk) a received block is not
    read into memory: the file is renamed to a name of this task's and mapped (``np.memmap``,
    shared), the kernel trains on the mapping, and sending it on is a rename again, so a block
    is copied once an epoch (its first send) instead of twice a sub-epoch. The bytes are the same
    either way; only the copies go.

    Args:
        store: the block store; directory: this stage attempt's scratch directory.
        task, num_tasks: t and T (for messages).
        timeout: seconds to wait for one block before giving up.
        zero_copy: hand mapped blocks over by renaming their files (local directory, one host).
    """

    def __init__(self, store: BlockStore, directory: str, task: int, num_tasks: int, timeout: float,
                 zero_copy: bool = False):
        self.store = store
        self.directory = directory
        self.task = task
        self.num_tasks = num_tasks
        self.timeout = timeout
        self.zero_copy = zero_copy and store.local
        self.abort_path = posixpath.join(directory, "ABORT")

    def _name(self, cycle: int, sub_epoch: int, block: int) -> str:
        return posixpath.join(self.directory, f"h-{cycle:04d}-{sub_epoch:05d}-{block:05d}.f32")

    def send(self, cycle: int, sub_epoch: int, block: int, rows: np.ndarray) -> None:
        target = self._name(cycle, sub_epoch, block)
        if self.zero_copy and isinstance(rows, np.memmap) and rows.filename is not None:
            # same machine: the mapping is the page cache itself, the next reader sees every write
            os.replace(rows.filename, target)
            return
        self.store._write_bytes(target, memoryview(np.ascontiguousarray(rows)).cast("B"))

    def receive(self, cycle: int, sub_epoch: int, block: int, shape: tuple[int, int]) -> np.ndarray:
        path = self._name(cycle, sub_epoch, block)
        fs, local = self.store.fs, self.store.local
        exists = os.path.exists if local else fs.exists
        start = time.monotonic()
        pause, checked = 0.0002, start
        while not exists(path):
            now = time.monotonic()
            if now - checked > 0.5:
                checked = now
                if exists(self.abort_path):
                    raise Aborted(f"task {self.task}: another task stopped the epoch")
            if now - start > self.timeout:
                raise TimeoutError(
                    f"task {self.task} of {self.num_tasks} waited {self.timeout:.0f} s for W' block {block} "
                    f"(cycle {cycle}, sub-epoch {sub_epoch}) in {self.directory}: its neighbour task "
                    f"{(self.task + 1) % self.num_tasks} stopped; Spark retries the stage")
            time.sleep(pause)
            pause = min(pause * 1.5, 0.02)
        if self.zero_copy:
            held = posixpath.join(self.directory, f"held-{self.task:05d}-{os.path.basename(path)}")
            os.replace(path, held)
            return np.memmap(held, np.float32, "r+", shape=tuple(shape))
        if local:
            rows = np.fromfile(path, np.float32)
            os.remove(path)
        else:
            rows = np.frombuffer(fs.cat_file(path), np.float32).copy()
            fs.rm(path)
        return rows.reshape(shape)

    def abort(self, info: dict) -> None:
        """Tell every task of this attempt to stop (this task diverged)."""
        self.store._write_bytes(self.abort_path, json.dumps(info).encode())

