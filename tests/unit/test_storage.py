"""Outputs are built beside their destination and swapped in when complete: nothing a user had
is deleted or damaged by a failed, refused or concurrent run; a directory is sparkw2v's only if
its marker says so."""

import errno
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sparkw2v import storage
from sparkw2v.errors import InputError, OutputExistsError, OutputWriteError


def committed(path, files=("embeddings", "metadata.json"), kind="model"):
    """A directory as a finished sparkw2v run leaves it (marker, files, _SUCCESS)."""
    staging = storage.Staging(str(path), kind)
    partial = Path(staging.begin())
    for name in files:
        (partial / name).write_text(name)
    staging.commit()
    return path


def snapshot(root):
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(Path(root).rglob("*")) if p.is_file()}


def test_an_output_that_is_contains_or_lies_inside_the_input_is_refused(tmp_path):
    (tmp_path / "corpus").mkdir()
    for out, relation in ((tmp_path / "corpus", "is the input"), (tmp_path, "contains the input"),
                          (tmp_path / "corpus" / "model", "lies inside the input")):
        with pytest.raises(InputError, match=relation):
            storage.check_distinct(str(tmp_path / "corpus"), str(out))
    storage.check_distinct(str(tmp_path / "corpus"), str(tmp_path / "corpus2"))  # a sibling is fine
    (tmp_path / "link").symlink_to(tmp_path / "corpus")
    with pytest.raises(InputError, match="is the input"):
        storage.check_distinct(str(tmp_path / "corpus"), str(tmp_path / "link"))


def test_a_committed_directory_keeps_its_marker_listing_its_entries(tmp_path):
    out = committed(tmp_path / "m")
    marker = json.loads((out / storage.MARKER).read_text())
    assert marker["kind"] == "model" and marker["heartbeat"] == 0.0 and marker["committed"] > 0
    assert marker["entries"] == sorted(["_SUCCESS", "_sparkw2v.json", "embeddings", "metadata.json"])
    assert storage.is_ours(str(out)) and not (tmp_path / "m.partial").exists()


def test_overwrite_replaces_only_when_complete_and_only_sparkw2v_outputs(tmp_path):
    old = committed(tmp_path / "m")
    staging = storage.Staging(str(old), "model", overwrite=True)
    partial = staging.begin()
    assert partial == str(old) + ".partial" and (old / "metadata.json").read_text() == "metadata.json"
    (tmp_path / "m.partial" / "embeddings").mkdir()
    (tmp_path / "m.partial" / "metadata.json").write_text("new")
    staging.commit()
    assert (old / "metadata.json").read_text() == "new" and (old / "_SUCCESS").exists()
    assert not (tmp_path / "m.partial").exists() and not list(tmp_path.glob("m.replaced-*"))
    thesis = tmp_path / "thesis"
    thesis.mkdir()
    (thesis / "thesis.tex").write_text("years of work")
    with pytest.raises(OutputExistsError, match="is not a sparkw2v model directory; refusing to replace it .*"
                                                "it has no _sparkw2v.json marker"):
        storage.Staging(str(thesis), "model", overwrite=True).begin()
    assert (thesis / "thesis.tex").read_text() == "years of work" and not (tmp_path / "thesis.partial").exists()


def test_a_dataset_whose_files_look_like_sparkw2v_s_is_never_replaced(tmp_path):
    """A directory is sparkw2v's only if its marker says so, never by its file names."""
    data = tmp_path / "dataset"
    data.mkdir()
    pq.write_table(pa.table({"x": [1, 2, 3]}), str(data / "part-0.parquet"))
    (data / "_SUCCESS").write_text("")
    (data / "metadata.json").write_text("{}")
    before = snapshot(data)
    for kind in ("model", "corpus"):
        with pytest.raises(OutputExistsError, match="is not a sparkw2v .* directory; refusing to replace it"):
            storage.Staging(str(data), kind, overwrite=True).begin()
    with pytest.raises(OutputExistsError, match="is not a sparkw2v directory"):
        storage.prepare_output(str(data), overwrite=True)
    assert snapshot(data) == before and not storage.is_ours(str(data))


def test_a_user_file_added_to_a_model_keeps_it_from_being_replaced(tmp_path):
    out = committed(tmp_path / "m")
    (out / "notes.txt").write_text("mine")
    with pytest.raises(OutputExistsError, match=r"holds what sparkw2v did not write \(notes.txt\)"):
        storage.Staging(str(out), "model", overwrite=True).begin()
    assert (out / "notes.txt").read_text() == "mine"


def test_an_output_of_another_kind_is_not_replaced(tmp_path):
    corpus = committed(tmp_path / "c", ("part-00000.parquet",), kind="corpus")
    with pytest.raises(OutputExistsError, match="is a sparkw2v corpus directory, not a model one"):
        storage.Staging(str(corpus), "model", overwrite=True).begin()
    assert (corpus / "part-00000.parquet").exists()


def test_an_empty_directory_is_a_free_output(tmp_path):
    (tmp_path / "empty").mkdir()
    committed(tmp_path / "empty")  # no --overwrite needed: replacing it loses nothing
    assert (tmp_path / "empty" / "_SUCCESS").exists()
    (tmp_path / "e.partial").mkdir()  # an empty OUTPUT.partial is free too
    committed(tmp_path / "e")
    assert (tmp_path / "e" / "_SUCCESS").exists() and not (tmp_path / "e.partial").exists()


def test_without_overwrite_an_existing_output_or_leftovers_are_refused(tmp_path):
    old = committed(tmp_path / "m")
    with pytest.raises(OutputExistsError, match="holds a complete result; pass --overwrite"):
        storage.Staging(str(old), "model").begin()
    staging = storage.Staging(str(tmp_path / "n"), "model")
    staging.begin()
    staging.release()  # a run that then fails
    with pytest.raises(OutputExistsError, match=r"leftovers of an unfinished run in '.*n.partial'; pass --resume"):
        storage.Staging(str(tmp_path / "n"), "model").begin()
    resumed = storage.Staging(str(tmp_path / "n"), "model", resume=True)
    resumed.begin()
    resumed.commit()
    assert (tmp_path / "n" / "_SUCCESS").exists()
    with pytest.raises(OutputExistsError, match="nothing to resume"):
        storage.Staging(str(tmp_path / "o"), "model", resume=True).begin()


def _die(staging, age=0.0, pid=None):
    """What a run killed ``age`` seconds after its last heartbeat leaves (its thread stops beating)."""
    staging._stop.set()
    staging._heart.join()
    marker = Path(staging.partial) / storage.MARKER
    info = json.loads(marker.read_text())
    info.update(heartbeat=time.time() - age, pid=info["pid"] if pid is None else pid)
    marker.write_text(json.dumps(info))


def _dead_pid():
    return int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True).stdout)


def test_a_live_run_is_never_taken_over_a_dead_one_is(tmp_path):
    live = storage.Staging(str(tmp_path / "m"), "model")
    live.begin()
    for flags in ({"overwrite": True}, {"resume": True}):
        with pytest.raises(OutputExistsError, match=r"is being written by another run \(process \d+ on .*wait for it"):
            storage.Staging(str(tmp_path / "m"), "model", **flags).begin()
    assert live.owned()
    _die(live, age=storage.LEASE_SECONDS + 1)  # silent for longer than the lease (another host, say)
    storage.Staging(str(tmp_path / "m"), "model", resume=True).begin()
    # on this host a dead process frees its directory at once
    other = storage.Staging(str(tmp_path / "n"), "model")
    other.begin()
    _die(other, age=0.0, pid=_dead_pid())
    storage.Staging(str(tmp_path / "n"), "model", overwrite=True).begin()
    # a run that failed cleanly releases its directory for --resume
    failed = storage.Staging(str(tmp_path / "o"), "model")
    failed.begin()
    failed.release()
    storage.Staging(str(tmp_path / "o"), "model", resume=True).begin()


def test_the_heartbeat_renews_the_lease(tmp_path, monkeypatch):
    monkeypatch.setattr(storage, "HEARTBEAT_SECONDS", 0.05)
    staging = storage.Staging(str(tmp_path / "m"), "model")
    staging.begin()
    first = json.loads((Path(staging.partial) / storage.MARKER).read_text())["heartbeat"]
    time.sleep(0.3)
    assert json.loads((Path(staging.partial) / storage.MARKER).read_text())["heartbeat"] > first
    staging.commit()
    assert not staging._heart.is_alive() and (tmp_path / "m" / "_SUCCESS").exists()


def test_concurrent_runs_never_leave_a_mixed_or_stolen_output(tmp_path):
    first = storage.Staging(str(tmp_path / "m"), "model")
    first.begin()
    _die(first, age=storage.LEASE_SECONDS + 1)  # looks dead (e.g. a lost host) although it will come back
    second = storage.Staging(str(tmp_path / "m"), "model", overwrite=True)
    second.begin()  # takes the partial directory over
    (tmp_path / "m.partial" / "metadata.json").write_text("second")
    with pytest.raises(OutputExistsError, match="another run took over"):
        first.commit()
    second.commit()
    assert (tmp_path / "m" / "metadata.json").read_text() == "second"


@pytest.mark.parametrize("appears, overwrite, kept", [
    ("model", False, True),    # another run committed meanwhile, no --overwrite
    ("model", True, False),    # ... with --overwrite: replaced, as begin would have allowed
    ("foreign", True, True),   # a user's directory: never replaced
    ("dataset", True, True),   # a pyarrow dataset: never replaced
    ("file", True, True),
    ("empty", False, False),   # an empty directory is free
])
def test_commit_applies_the_test_of_begin_to_what_appeared_at_the_output(tmp_path, appears, overwrite, kept):
    out = tmp_path / "p"
    run = storage.Staging(str(out), "model", overwrite=overwrite)
    run.begin()
    (tmp_path / "p.partial" / "metadata.json").write_text("mine")
    if appears == "model":
        committed(tmp_path / "other", ("metadata.json",)).rename(out)
    elif appears == "foreign":
        out.mkdir()
        (out / "thesis.tex").write_text("years of work")
    elif appears == "dataset":
        out.mkdir()
        pq.write_table(pa.table({"x": [1]}), str(out / "part-0.parquet"))
    elif appears == "file":
        out.write_text("a file")
    else:
        out.mkdir()
    before = snapshot(tmp_path) if out.is_dir() else {"file": out.read_bytes()}
    if kept:
        with pytest.raises(OutputExistsError, match=r"'.*p' changed while this run worked .*: it is left as it is, "
                                                    r"and this run's complete result is kept in '.*p.partial'"):
            run.commit()
        after = snapshot(tmp_path) if out.is_dir() else {"file": out.read_bytes()}
        assert {k: v for k, v in after.items() if not k.startswith("p.partial")} == \
            {k: v for k, v in before.items() if not k.startswith("p.partial")}
        assert (tmp_path / "p.partial" / "_SUCCESS").exists()
        assert (tmp_path / "p.partial" / "metadata.json").read_text() == "mine"
        if appears == "model":  # the kept result is not thrown away by a later --overwrite
            with pytest.raises(OutputExistsError, match="holds a complete result kept by an earlier run"):
                storage.Staging(str(out), "model", overwrite=True).begin()
    else:
        run.commit()
        assert (out / "metadata.json").read_text() == "mine" and (out / "_SUCCESS").exists()
        assert not list(tmp_path.glob("p.replaced-*"))


def test_prepare_output_replaces_only_sparkw2v_or_empty_directories(tmp_path):
    thesis = tmp_path / "thesis"
    thesis.mkdir()
    (thesis / "thesis.tex").write_text("years of work")
    with pytest.raises(OutputExistsError, match="is not a sparkw2v directory; refusing to replace it"):
        storage.prepare_output(str(thesis), overwrite=True)
    assert (thesis / "thesis.tex").read_text() == "years of work"
    (tmp_path / "empty").mkdir()
    storage.prepare_output(str(tmp_path / "empty"), overwrite=True)
    old = committed(tmp_path / "m")
    with pytest.raises(OutputExistsError, match="already exists and holds a complete result"):
        storage.prepare_output(str(old), overwrite=False)
    storage.prepare_output(str(old), overwrite=True)
    assert [p.name for p in Path(old).iterdir()] == [storage.MARKER]
    storage.prepare_output(str(old), overwrite=True)  # what prepare_output made is sparkw2v's


def test_a_partial_directory_sparkw2v_did_not_write_is_left_alone(tmp_path):
    foreign = tmp_path / "m.partial"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    for flags in ({}, {"overwrite": True}, {"resume": True}):
        with pytest.raises(OutputExistsError, match="m.partial' exists and is not sparkw2v's .*: move it away first"):
            storage.Staging(str(tmp_path / "m"), "model", **flags).begin()
    assert (foreign / "notes.txt").read_text() == "mine"


# --- claims are create-exclusive ---------------------------------------------------------------

def _race(stagings):
    """Call begin() of every staging at the same instant from threads; the winners and errors."""
    barrier = threading.Barrier(len(stagings))
    won, lost = [], []

    def go(s):
        barrier.wait()
        try:
            s.begin()
            won.append(s)
        except OutputExistsError as exc:
            lost.append(str(exc))

    threads = [threading.Thread(target=go, args=(s,)) for s in stagings]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return won, lost


def test_of_runs_claiming_an_output_at_the_same_instant_exactly_one_wins(tmp_path):
    for trial in range(40):
        out = tmp_path / f"m{trial}"
        won, lost = _race([storage.Staging(str(out), "model") for _ in range(4)])
        assert len(won) == 1 and len(lost) == 3, lost
        assert all("is being written by another run" in m for m in lost), lost
        assert won[0].owned()
        won[0].commit()
        assert json.loads((out / storage.MARKER).read_text())["run"] == won[0].run


def _one_run(out, barrier, results):
    """A run in a process of its own: begin at the barrier, write a file, commit."""
    staging = storage.Staging(out, "model")
    barrier.wait()
    try:
        partial = Path(staging.begin())
    except OutputExistsError:
        results.put(("lost", staging.run))
        return
    (partial / f"file-{staging.run}").write_text(staging.run)
    staging.commit()
    results.put(("won", staging.run))


def test_of_two_processes_starting_on_one_output_at_the_same_instant_one_commits_alone(tmp_path):
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    for trial in range(20):
        out = tmp_path / f"m{trial}"
        barrier, results = ctx.Barrier(2), ctx.Queue()
        procs = [ctx.Process(target=_one_run, args=(str(out), barrier, results)) for _ in range(2)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
        outcome = sorted(results.get(timeout=5) for _ in procs)
        assert [o for o, _ in outcome] == ["lost", "won"], outcome
        winner = outcome[1][1]
        assert sorted(p.name for p in out.iterdir()) == ["_SUCCESS", "_sparkw2v.json", f"file-{winner}"]
        assert json.loads((out / storage.MARKER).read_text())["run"] == winner


def test_of_runs_taking_a_dead_run_over_at_the_same_instant_exactly_one_wins(tmp_path):
    for trial in range(20):
        out = tmp_path / f"m{trial}"
        dead = storage.Staging(str(out), "model")
        dead.begin()
        (Path(dead.partial) / "_blocks").mkdir()
        _die(dead, pid=_dead_pid())
        flags = {"resume": True} if trial % 2 else {"overwrite": True}
        won, lost = _race([storage.Staging(str(out), "model", **flags) for _ in range(3)])
        assert len(won) == 1 and len(lost) == 2, lost
        assert all("another run" in m for m in lost), lost
        assert won[0].owned() and not list(Path(dead.partial).glob(storage.TAKEOVER + "*"))
        assert (Path(dead.partial) / "_blocks").exists() == bool(trial % 2)  # resume keeps, overwrite clears


# --- the work directory ------------------------------------------------------------------------

def test_a_run_removes_only_its_own_subdirectory_of_the_work_directory(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    (work / "notes.txt").write_text("mine")
    committed(work / "another-model")
    before = snapshot(work)
    run = storage.Staging(str(tmp_path / "m"), "model", work_dir=str(work))
    run.begin()
    assert Path(run.work).parent == work and Path(run.work).name.startswith("sparkw2v-m-")
    (Path(run.work) / "state-000001").mkdir()
    run.remove_work()
    run.commit()
    assert snapshot(work) == before and sorted(p.name for p in work.iterdir()) == ["another-model", "notes.txt"]


def test_resume_finds_the_same_work_subdirectory_and_a_live_one_is_not_taken(tmp_path):
    work = tmp_path / "work"
    first = storage.Staging(str(tmp_path / "m"), "model", work_dir=str(work))
    first.begin()
    (Path(first.work) / "state-000001").mkdir()
    with pytest.raises(OutputExistsError, match="is being written by another run"):
        storage.Staging(str(tmp_path / "m"), "model", resume=True, work_dir=str(work)).begin()
    first.release()  # failed, checkpoints kept
    again = storage.Staging(str(tmp_path / "m"), "model", resume=True, work_dir=str(work))
    again.begin()
    assert again.work == first.work and (Path(again.work) / "state-000001").exists()
    assert storage.Staging(str(tmp_path / "other"), "model", work_dir=str(work)).work != first.work
    again.release()
    (tmp_path / "m.partial" / storage.MARKER).unlink()  # the partial directory lost: the blocks remain
    for p in (tmp_path / "m.partial").iterdir():
        p.unlink()
    with pytest.raises(OutputExistsError, match="holds the blocks of an earlier unfinished run .* pass --overwrite"):
        storage.Staging(str(tmp_path / "m"), "model", work_dir=str(work)).begin()
    fresh = storage.Staging(str(tmp_path / "m"), "model", overwrite=True, work_dir=str(work))
    fresh.begin()
    assert not (Path(fresh.work) / "state-000001").exists()


def test_a_work_subdirectory_sparkw2v_did_not_write_is_left_alone(tmp_path):
    work = tmp_path / "work"
    name = storage.work_name(str(tmp_path / "m"))
    (work / name).mkdir(parents=True)
    (work / name / "data.bin").write_text("mine")
    with pytest.raises(OutputExistsError, match="is not sparkw2v's work directory .* move it away first"):
        storage.Staging(str(tmp_path / "m"), "model", overwrite=True, work_dir=str(work)).begin()
    assert (work / name / "data.bin").read_text() == "mine" and not (tmp_path / "m.partial").exists()


def test_discard_removes_what_the_run_made_and_nothing_else(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    (work / "notes.txt").write_text("mine")
    run = storage.Staging(str(tmp_path / "m"), "model", work_dir=str(work))
    run.begin()
    run.discard()
    assert not (tmp_path / "m.partial").exists() and [p.name for p in work.iterdir()] == ["notes.txt"]


# --- outputs that cannot work are refused before any work, in one line ---------------------------

@pytest.mark.parametrize("url", ["memory://m", "memory:///data/m", "simplecache::memory://m"])
def test_an_output_in_memory_is_refused(url, tmp_path):
    with pytest.raises(InputError, match=r"is on memory://, a filesystem in this process's memory: it would "
                                         r"vanish when the job ends .* write it to a local path"):
        storage.Staging(url, "model").begin()
    with pytest.raises(InputError, match="work directory 'memory://w' is on memory://"):
        storage.Staging(str(tmp_path / "m"), "model", work_dir="memory://w").begin()
    assert not (tmp_path / "m.partial").exists()


def test_a_symbolic_link_as_output_is_refused(tmp_path):
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    with pytest.raises(InputError, match=r"output '.*dangling' is a symbolic link to '.*nowhere', which does not "
                                         r"exist; give the path of a real directory"):
        storage.Staging(str(tmp_path / "dangling"), "model").begin()
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(InputError, match=r"is a symbolic link \(to '.*real'\): .* give the real path"):
        storage.Staging(str(tmp_path / "link"), "model", overwrite=True).begin()
    assert not list(tmp_path.glob("*.partial"))


def test_an_output_below_a_file_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputWriteError, match=r"creating the output .*file/sub/m failed: .*file is a file, not a "
                                               r"directory; choose another output path"):
        storage.Staging(str(tmp_path / "file" / "sub" / "m"), "model").begin()
    with pytest.raises(OutputWriteError, match=r"creating the work directory .*file/w failed: .*fix the filesystem"):
        storage.Staging(str(tmp_path / "m"), "model", work_dir=str(tmp_path / "file" / "w")).begin()
    assert not (tmp_path / "m.partial").exists()


def test_a_filesystem_that_refuses_the_claim_gives_one_line(tmp_path, monkeypatch):
    real = storage._create_exclusive

    def read_only(fs, path, obj):
        raise OSError(errno.EROFS, "Read-only file system", path)

    monkeypatch.setattr(storage, "_create_exclusive", read_only)
    with pytest.raises(OutputWriteError, match=r"preparing the output .*m failed \(Read-only file system: "
                                               r"'.*m.partial/_sparkw2v.json'\); it is read-only .* choose another path"):
        storage.Staging(str(tmp_path / "m"), "model").begin()
    monkeypatch.setattr(storage, "_create_exclusive", real)


def test_a_read_only_directory_refuses_the_output_before_any_work(tmp_path, monkeypatch):
    ro = tmp_path / "ro"
    ro.mkdir()
    committed(ro / "old")
    os.chmod(ro, 0o555)
    os.chmod(ro / "old", 0o555)
    # root writes anywhere: judge access by the mode bits, as for an ordinary user
    monkeypatch.setattr(os, "access", lambda path, mode: bool(os.stat(path).st_mode & 0o200) or not mode & os.W_OK)
    try:
        with pytest.raises(OutputWriteError, match=rf"creating the output {ro / 'm'} failed: {ro} is not writable "
                                                   r"\(read-only or permission denied\); make it writable or choose"):
            storage.Staging(str(ro / "m"), "model").begin()
        with pytest.raises(OutputWriteError, match=rf"creating the output {ro / 'new' / 'm'} failed: {ro} is not"):
            storage.Staging(str(ro / "new" / "m"), "model").begin()
        os.chmod(ro, 0o755)
        with pytest.raises(OutputWriteError, match=r"output '.*old' is read-only: replacing it would fail"):
            storage.Staging(str(ro / "old"), "model", overwrite=True).begin()
        assert sorted(p.name for p in ro.iterdir()) == ["old"]
    finally:
        os.chmod(ro, 0o755)
        os.chmod(ro / "old", 0o755)


def test_a_full_disk_while_writing_is_one_line(tmp_path, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pq, "write_table", full)
    with pytest.raises(OutputWriteError, match=r"writing .*/out/embeddings failed \(No space left on device\); "
                                               r"free space on that filesystem"):
        storage.write_table(pa.table({"x": [1]}), str(tmp_path / "out"), "embeddings")
    assert not list((tmp_path / "out").iterdir())  # the temporary directory is gone
    monkeypatch.setattr("builtins.open", full)
    with pytest.raises(OutputWriteError, match="No space left on device"):
        storage.write_json({"a": 1}, str(tmp_path / "out"), "metadata.json")


def test_a_begin_that_fails_after_taking_a_dead_run_over_keeps_its_checkpoints(tmp_path, monkeypatch):
    dead = storage.Staging(str(tmp_path / "m"), "model")
    dead.begin()
    (Path(dead.partial) / "_blocks").mkdir()
    _die(dead, pid=_dead_pid())

    def interrupted(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(storage.Staging, "_claim_work", interrupted)
    with pytest.raises(KeyboardInterrupt):
        storage.Staging(str(tmp_path / "m"), "model", resume=True, work_dir=str(tmp_path / "w")).begin()
    assert (Path(dead.partial) / "_blocks").exists()  # released, for the next --resume
    assert json.loads((Path(dead.partial) / storage.MARKER).read_text())["heartbeat"] == 0.0
    fresh = storage.Staging(str(tmp_path / "n"), "model", work_dir=str(tmp_path / "w"))
    with pytest.raises(KeyboardInterrupt):
        fresh.begin()
    assert not (tmp_path / "n.partial").exists()  # a fresh claim is undone
