"""Property test of ``storage.Staging``: random interleavings (seeded) of two to four runs on one
output, each beginning with random flags, writing, and then committing, failing, being
interrupted or crashing at any step, while a user creates directories and files at OUTPUT,
OUTPUT.partial and the work directory at random moments.

After every step: no file the runs did not create was removed or changed; a committed
directory is complete (``_SUCCESS``, a marker naming exactly one run) and holds the files of
that run alone (and of the run it resumed); no takeover token or replaced output is left.
Some pairs of runs begin at the same instant, from two threads: at most one may win.
Pure unit test, local temporary directories, no Spark; "another process" is a fake pid whose
liveness the test decides. (Concurrent claims are also tested, 40 times over, in
``test_storage.py``.)"""

from __future__ import annotations

import contextlib
import json
import random
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sparkw2v import storage
from sparkw2v.errors import OutputExistsError, OutputWriteError

SCENARIOS = 300


class Crash(BaseException):
    """The process dies here (raised inside storage, so nothing after it runs)."""


@dataclass
class Run:
    staging: storage.Staging
    script: list[str]
    written: set[str] = field(default_factory=set)      # file names this run wrote into its partial
    inherited: set[str] = field(default_factory=set)    # files of the run it resumed
    state: str = "new"                                    # new, running, ended

    @property
    def name(self) -> str:
        return self.staging.run


class World:
    """One scenario: the output, the work directory, the runs and the user's files."""

    def __init__(self, root: Path, rng: random.Random, monkeypatch):
        self.root, self.rng, self.mp = root, rng, monkeypatch
        self.out, self.work = root / "out", root / "work"
        self.partial = root / "out.partial"
        self.user: dict[Path, bytes] = {}   # every file the user made, with its content
        self.alive: set[int] = set()
        self.next_pid = 10_000_000
        self.runs: list[Run] = []
        self.files = 0
        monkeypatch.setattr(storage, "_process_alive", lambda pid: pid in self.alive)
        monkeypatch.setattr(storage, "HEARTBEAT_SECONDS", 3600.0)

    # ------------------------------------------------------------------ the user

    def user_file(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = f"user {self.files} {self.rng.random()}".encode()
        self.files += 1
        path.write_bytes(data)
        self.user[path] = data

    def user_acts(self) -> None:
        rng = self.rng
        act = rng.choice(["work-file", "output-dir", "output-empty", "output-dataset", "output-file", "partial-dir",
                          "partial-empty", "into-committed", "into-committed", "move-away", "move-away", "work-sub"])
        if act == "work-file":
            self.user_file(self.work / f"notes-{self.files}.txt")
        elif act == "work-sub":  # a directory of the user's where a run's subdirectory would go
            name = storage.work_name(str(self.out))
            if not (self.work / name).exists():
                self.user_file(self.work / name / "mine.bin")
        elif act.startswith("output-") and not self.out.exists() and not self.out.is_symlink():
            if act == "output-dir":
                self.user_file(self.out / "thesis.tex")
            elif act == "output-empty":
                self.out.mkdir()
            elif act == "output-dataset":  # a pyarrow dataset: names like sparkw2v's
                self.user_file(self.out / "part-0.parquet")
                self.user_file(self.out / "_SUCCESS")
            else:
                self.user_file(self.out)
        elif act.startswith("partial-") and not self.partial.exists():
            if act == "partial-dir":
                self.user_file(self.partial / "draft.txt")
            else:
                self.partial.mkdir()
        elif act == "into-committed" and (self.out / storage.SUCCESS).exists() and self._ours(self.out):
            self.user_file(self.out / f"notes-{self.files}.txt")
        elif act == "move-away":  # the user moves what they made at OUTPUT / OUTPUT.partial elsewhere
            for top in (self.out, self.partial):
                mine = [p for p in self.user if p == top or top in p.parents]
                if mine and not self._ours(top):
                    target = self.root / f"moved-{self.files}"
                    self.files += 1
                    top.rename(target)
                    for p in mine:
                        self.user[target / p.relative_to(top)] = self.user.pop(p)

    @staticmethod
    def _ours(path: Path) -> bool:
        return path.is_dir() and not path.is_symlink() and (path / storage.MARKER).exists()

    # ------------------------------------------------------------------ the runs

    def new_run(self) -> Run:
        rng = self.rng
        staging = storage.Staging(str(self.out), "model", overwrite=rng.random() < 0.5, resume=rng.random() < 0.4,
                                  work_dir=str(self.work) if rng.random() < 0.6 else None)
        staging.pid = self.next_pid
        self.next_pid += 1
        script = ["begin"] + ["write"] * rng.randint(0, 3)
        end = rng.choice(["commit", "commit", "commit", "release", "discard", "crash", "crash-in-commit",
                          "interrupt-in-begin"])
        if end == "interrupt-in-begin":
            script = ["interrupt-in-begin"]
        else:
            script.append(end)
        run = Run(staging, script)
        self.runs.append(run)
        return run

    def step(self, run: Run) -> None:
        op = run.script.pop(0)
        s = run.staging
        if op in ("begin", "interrupt-in-begin"):
            self.alive.add(s.pid)
            run.state = "running"
            interrupt = _raise_interrupt if op == "interrupt-in-begin" else storage.Staging._claim_work
            try:
                with swapped(storage.Staging, "_claim_work", interrupt):
                    s.begin()
            except (OutputExistsError, OutputWriteError, KeyboardInterrupt):
                self._end(run, dead=False)
                return
            assert s.owned()
            if op == "interrupt-in-begin":  # no work directory: nothing interrupted it; it dies later
                run.script = ["crash"]
            if s.resume:
                run.inherited = {p.name for p in Path(s.partial).iterdir() if p.name.startswith("f-")}
        elif op == "write":
            name = f"f-{run.name}-{len(run.written)}"
            (Path(s.partial) / name).write_text(run.name)
            run.written.add(name)
            if s.work:
                (Path(s.work) / f"state-{run.name}-{len(run.written)}").mkdir()
        elif op == "commit":
            s.remove_work()
            try:
                s.commit()
                self._check_committed(run)
            except OutputExistsError as exc:
                assert "kept in" in str(exc) or "took over" in str(exc), exc
                if "kept in" in str(exc):
                    self._check_complete(Path(s.partial), run)
            self._end(run, dead=False)
        elif op == "crash-in-commit":  # dies while renaming (after _SUCCESS and the final marker)
            s.remove_work()
            try:
                with swapped(storage, "_rename_if_free", _raise_crash), swapped(storage, "_rename", _raise_crash):
                    s.commit()
            except (Crash, OutputExistsError):
                pass
            self._end(run, dead=True)
        elif op == "release":
            s.release()
            self._end(run, dead=False)
        elif op == "discard":
            s.discard()
            self._end(run, dead=False)
        elif op == "crash":
            s._stop_beating()  # the process is gone: no release, no cleanup
            self._end(run, dead=True)

    def _end(self, run: Run, dead: bool) -> None:
        run.state = "ended"
        run.script.clear()
        run.staging._stop_beating()  # a dead process's thread stops too (without a release)
        self.alive.discard(run.staging.pid)

    # ------------------------------------------------------------------ what must hold

    def _check_complete(self, directory: Path, run: Run) -> None:
        marker = json.loads((directory / storage.MARKER).read_text())
        assert marker["run"] == run.name and (directory / storage.SUCCESS).exists()
        names = {p.name for p in directory.iterdir() if p.name.startswith("f-")}
        assert run.written <= names <= run.written | run.inherited, (names, run.written, run.inherited)

    def _check_committed(self, run: Run) -> None:
        self._check_complete(self.out, run)

    def check(self) -> None:
        for path, data in self.user.items():
            assert path.exists() and path.read_bytes() == data, f"the user's {path} was removed or changed"
        if self._ours(self.out) and (self.out / storage.SUCCESS).exists():
            marker = json.loads((self.out / storage.MARKER).read_text())
            owners = {p.name.split("-")[1] for p in self.out.iterdir() if p.name.startswith("f-")}
            committer = [r for r in self.runs if r.name == marker["run"]]
            assert len(committer) == 1, "a committed directory names no run of this scenario"
            allowed = {r.name for r in self.runs if r is committer[0] or r.name in
                       {n.split("-")[1] for n in committer[0].inherited}}
            assert owners <= allowed, f"a committed directory holds files of several runs: {owners}"
        leftovers = [p for p in self.root.rglob("*") if p.name.startswith(storage.TAKEOVER) or ".replaced-" in p.name
                     or ".sparkw2v-claim-" in p.name]
        assert not leftovers, leftovers


@contextlib.contextmanager
def swapped(obj, name, value):
    """``obj.name`` is ``value`` inside the block."""
    old = getattr(obj, name)
    setattr(obj, name, value)
    try:
        yield
    finally:
        setattr(obj, name, old)


def _raise_crash(*args, **kwargs):
    raise Crash()


def _raise_interrupt(*args, **kwargs):
    raise KeyboardInterrupt


def begin_together(world: World) -> None:
    """Two new runs call begin() at the same instant (threads): at most one may win."""
    runs = [world.new_run(), world.new_run()]
    for run in runs:
        if run.script[0] != "begin":
            run.script = ["begin", "commit"]
    barrier = threading.Barrier(2)
    failures: list[BaseException] = []

    def go(run):
        barrier.wait()
        try:
            world.step(run)
        except BaseException as exc:  # raised again in the test's thread
            failures.append(exc)

    threads = [threading.Thread(target=go, args=(run,)) for run in runs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise failures[0]
    assert sum(run.state == "running" for run in runs) <= 1, "two runs claimed one output"


def play(world: World) -> None:
    rng = world.rng
    pending = rng.randint(2, 4)
    while True:
        active = [r for r in world.runs if r.state != "ended"]
        if pending >= 2 and rng.random() < 0.15:
            begin_together(world)
            pending -= 2
            world.check()
            continue
        if pending and (not active or rng.random() < 0.3):
            world.new_run()
            pending -= 1
            continue
        if not active:
            return
        if rng.random() < 0.25:
            world.user_acts()
        else:
            world.step(rng.choice(active))
        world.check()


@pytest.mark.parametrize("seed", range(SCENARIOS))
def test_random_interleavings_of_runs_and_a_user(tmp_path, monkeypatch, seed):
    world = World(tmp_path, random.Random(seed), monkeypatch)
    try:
        play(world)
    finally:
        for run in world.runs:
            run.staging._stop_beating()
