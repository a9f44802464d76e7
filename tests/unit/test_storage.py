"""Outputs are built beside their destination and swapped in when complete: nothing a user had
is deleted or damaged by a failed, refused or concurrent run."""

from pathlib import Path

import pytest

from sparkw2v import storage
from sparkw2v.errors import InputError, OutputExistsError


def model(path, files=("embeddings", "metadata.json", "_SUCCESS")):
    path.mkdir(parents=True)
    for name in files:
        (path / name).write_text(name)
    return path


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


def test_overwrite_replaces_only_when_complete_and_only_sparkw2v_outputs(tmp_path):
    old = model(tmp_path / "m")
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
    with pytest.raises(OutputExistsError, match="is not a sparkw2v model directory; refusing to replace it"):
        storage.Staging(str(thesis), "model", overwrite=True).begin()
    assert (thesis / "thesis.tex").read_text() == "years of work"


def test_without_overwrite_an_existing_output_or_leftovers_are_refused(tmp_path):
    old = model(tmp_path / "m")
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
    import json
    import time

    staging._stop.set()
    staging._heart.join()
    marker = Path(staging.partial) / storage.MARKER
    info = json.loads(marker.read_text())
    info.update(heartbeat=time.time() - age, pid=info["pid"] if pid is None else pid)
    marker.write_text(json.dumps(info))


def test_a_live_run_is_never_taken_over_a_dead_one_is(tmp_path):
    import subprocess
    import sys

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
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    _die(other, age=0.0, pid=int(gone.stdout))
    storage.Staging(str(tmp_path / "n"), "model", overwrite=True).begin()
    # a run that failed cleanly releases its directory for --resume
    failed = storage.Staging(str(tmp_path / "o"), "model")
    failed.begin()
    failed.release()
    storage.Staging(str(tmp_path / "o"), "model", resume=True).begin()


def test_the_heartbeat_renews_the_lease(tmp_path, monkeypatch):
    import json
    import time

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
    # a run that finds the output written by another run when it commits keeps its own result
    third = storage.Staging(str(tmp_path / "p"), "model")
    third.begin()
    model(tmp_path / "p", ("metadata.json", "_SUCCESS"))
    with pytest.raises(OutputExistsError, match="another run wrote .* kept in"):
        third.commit()
    assert (tmp_path / "p" / "metadata.json").read_text() == "metadata.json"
    assert (tmp_path / "p.partial" / "_SUCCESS").exists()


def test_prepare_output_replaces_only_sparkw2v_or_empty_directories(tmp_path):
    thesis = tmp_path / "thesis"
    thesis.mkdir()
    (thesis / "thesis.tex").write_text("years of work")
    with pytest.raises(OutputExistsError, match="is not a sparkw2v directory; refusing to replace it"):
        storage.prepare_output(str(thesis), overwrite=True)
    assert (thesis / "thesis.tex").read_text() == "years of work"
    (tmp_path / "empty").mkdir()
    storage.prepare_output(str(tmp_path / "empty"), overwrite=True)
    old = model(tmp_path / "m")
    storage.prepare_output(str(old), overwrite=True)
    assert list(Path(old).iterdir()) == []


def test_a_partial_directory_sparkw2v_did_not_write_is_left_alone(tmp_path):
    foreign = tmp_path / "m.partial"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    for flags in ({}, {"overwrite": True}, {"resume": True}):
        with pytest.raises(OutputExistsError, match="m.partial' exists and is not sparkw2v's: move it away first"):
            storage.Staging(str(tmp_path / "m"), "model", **flags).begin()
    assert (foreign / "notes.txt").read_text() == "mine"
