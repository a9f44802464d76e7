"""A damaged checkpoint is refused, once, before any training, in one line naming the file.

A state (checkpoint) records every block file's size, shape and sha256. ``--resume`` from a
state one of whose files was truncated, or overwritten with NaN or finite garbage, or whose
state.json is not JSON, must stop with exit 2 and one line naming the file and the fix: no
epoch is trained or retried, nothing is blamed on memory or divergence, and the state is left
as it was. Damage met between two epochs of a run stops it in the same way.
"""

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sparkw2v import trainer
from sparkw2v.config import TrainConfig
from sparkw2v.errors import CheckpointError
from tests.jobs_util import load_job

pytestmark = pytest.mark.spark

train_job = load_job("train")
# 4 epochs, a checkpoint every 2: a crash in epoch 4 leaves the states after epochs 2 and 3
FLAGS = ["--vector-size", "8", "--window", "2", "--epochs", "4", "--min-count", "1", "--num-blocks", "2",
         "--checkpoint-every", "2", "--seed", "9", "--master", "local[2]"]


def run_train(capsys, *argv):
    """jobs/train.py's main(): (exit code, its error lines, all of stderr)."""
    code = train_job.main(list(argv))
    err = capsys.readouterr().err
    return code, [line for line in err.splitlines() if line.startswith("train: error:")], err


def digests(directory: Path) -> dict:
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def crashed_run(spark, tmp_path_factory):
    """OUTPUT.partial of a run killed in its 4th epoch (states after epochs 2 and 3 kept)."""
    base = tmp_path_factory.mktemp("crashed")
    rows = [" ".join(f"a{(i + j) % 8}" for j in range(6)) for i in range(60)]
    rows += [" ".join(f"b{(i * 3 + j) % 8}" for j in range(6)) for i in range(60)]
    pq.write_table(pa.table({"text": rows}), str(base / "in.parquet"))
    real = trainer._run_epoch_with_retries

    def killed_in_epoch_4(sc, corpus, job, *args):
        if job.epoch == 3:
            raise RuntimeError("the driver was killed")
        return real(sc, corpus, job, *args)

    trainer._run_epoch_with_retries = killed_in_epoch_4
    try:
        with pytest.raises(RuntimeError, match="killed"):
            train_job.main(["--input", str(base / "in.parquet"), "--output", str(base / "m"), *FLAGS])
    finally:
        trainer._run_epoch_with_retries = real
    blocks = base / "m.partial" / "_blocks"
    assert sorted(p.parent.name for p in blocks.glob("state-*/state.json")) == ["state-000002", "state-000003"]
    return base


def truncate(data: bytearray) -> None:
    del data[-40:]


def nan_garbage(data: bytearray) -> None:
    data[-64:] = np.full(16, np.nan, np.float32).tobytes()


def finite_garbage(data: bytearray) -> None:
    data[-64:] = np.linspace(-1, 1, 16, dtype=np.float32).tobytes()


def not_json(data: bytearray) -> None:
    data[:] = b'{"settings": {"window": 2'


DAMAGE = {  # name: (file damaged, how, what the line says)
    "truncated": ("W-00001.npy", truncate, "(truncated by 40 bytes)"),
    "NaN garbage": ("Wp-00000.npy", nan_garbage, "holds other bytes than were written (its sha256 differs"),
    "finite garbage": ("W-00000.npy", finite_garbage, "holds other bytes than were written (its sha256 differs"),
    "state.json not JSON": ("state.json", not_json, "is not JSON"),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_resume_from_a_damaged_checkpoint_is_refused_in_one_line(spark, capsys, tmp_path, monkeypatch,
                                                                 crashed_run, damage):
    shutil.copytree(crashed_run / "m.partial", tmp_path / "m.partial")
    state = tmp_path / "m.partial" / "_blocks" / "state-000003"
    name, how, says = DAMAGE[damage]
    target = state / name
    data = bytearray(target.read_bytes())
    size = len(data)
    how(data)
    target.write_bytes(bytes(data))
    before = digests(tmp_path / "m.partial" / "_blocks")
    epochs_run = []
    real = trainer._run_epoch
    monkeypatch.setattr(trainer, "_run_epoch", lambda sc, pairs, job, *a: epochs_run.append(job.epoch)
                        or real(sc, pairs, job, *a))

    code, lines, err = run_train(capsys, "--input", str(crashed_run / "in.parquet"), "--output",
                                 str(tmp_path / "m"), *FLAGS, "--resume")

    assert code == 2 and len(lines) == 1, err
    line = lines[0]
    assert str(target) in line, line
    assert says in line, line
    if damage == "truncated":
        assert f"holds {size - 40} bytes, not the {size} written" in line, line
    assert "train afresh with --overwrite" in line
    assert f"or remove {state} to resume from the checkpoint after 2 epoch(s)" in line, line
    for wrong in ("memory", "diverged", "lower alpha", "attempt", "failed 4 times"):
        assert wrong not in line, line
    assert "Traceback" not in err and "training the epoch again" not in err
    assert epochs_run == []  # refused before any training, nothing retried
    assert digests(tmp_path / "m.partial" / "_blocks") == before  # the state is left as it was
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("damaged", [False, True])
def test_an_undamaged_checkpoint_resumes_and_so_does_the_older_one_the_fix_names(spark, capsys, tmp_path,
                                                                                 crashed_run, damaged):
    """The refusals above are for the damage: the same state, untouched, resumes to a model; and
    the fix the refusal offers (remove the damaged state directory) resumes from the older one."""
    shutil.copytree(crashed_run / "m.partial", tmp_path / "m.partial")
    args = ["--input", str(crashed_run / "in.parquet"), "--output", str(tmp_path / "m"), *FLAGS, "--resume"]
    if damaged:
        state = tmp_path / "m.partial" / "_blocks" / "state-000003"
        (state / "W-00000.npy").write_bytes(b"")
        code, lines, err = run_train(capsys, *args)
        assert code == 2 and f"or remove {state} to resume" in lines[0], err
        shutil.rmtree(state)
    code, lines, err = run_train(capsys, *args)
    assert (code, lines) == (0, []), err
    assert (tmp_path / "m" / "_SUCCESS").exists()


@pytest.mark.parametrize("damage", ["truncated", "NaN garbage"])
def test_damage_between_two_epochs_stops_the_run_once_as_damage(spark, tmp_path, monkeypatch, damage):
    """A block file of the state an epoch starts from changes after it was written (here by the
    driver's on_epoch hook): the tasks of the next epoch find it before training; the run
    stops with a CheckpointError, not a divergence, and the epoch is not tried again."""
    path = tmp_path / "in.parquet"
    pq.write_table(pa.table({"text": [" ".join(f"w{(i * 7 + j) % 11}" for j in range(8)) for i in range(80)]}),
                   str(path))
    config = TrainConfig(vector_size=8, window=2, negative=3, sample=0.0, min_count=1, epochs=3, num_blocks=2,
                         cycles_per_epoch=2, seed=9)
    work = tmp_path / "blocks"
    target = work / "state-000001" / "Wp-00001.npy"
    _, how, _ = DAMAGE[damage]

    def damage_after_epoch_1(info):
        if info["epoch"] == 0:
            data = bytearray(target.read_bytes())
            how(data)
            target.write_bytes(bytes(data))

    attempts = []
    real = trainer._run_epoch
    monkeypatch.setattr(trainer, "_run_epoch", lambda sc, pairs, job, *a: attempts.append((job.epoch, job.attempt))
                        or real(sc, pairs, job, *a))
    with pytest.raises(CheckpointError, match=f"the checkpoint after 1 epoch\\(s\\) in {work} is damaged: block file "
                       f"{target} ") as info:
        trainer.train(spark, str(path), config, work_dir=str(work), on_epoch=damage_after_epoch_1)
    assert "train afresh with --overwrite" in str(info.value)
    assert attempts == [(0, 0), (1, 0)]  # epoch 2 ran once: a damaged state is not retried
