"""Import the spark-submit entry points under jobs/ as modules, to call their main(); run them and
read their one error line; the tiny corpus the job tests train on."""

import importlib.util
from pathlib import Path

JOBS = Path(__file__).resolve().parents[1] / "jobs"


def load_job(name: str):
    spec = importlib.util.spec_from_file_location(f"sparkw2v_job_{name}", JOBS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_job(job, capsys, *argv, prefix: str = "train"):
    """Run a job's main(); return (exit code, the one ``PREFIX: error:`` line or None).
    Fails the test if the job printed more than one error line."""
    code = job.main(list(argv))
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith(f"{prefix}: error:")]
    assert len(lines) <= 1, err
    return code, (lines[0] if lines else None)


def write_tiny_corpus(path: Path) -> str:
    """A Parquet directory at ``path`` of 40 short rows over 7 words (column ``text``)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"text": ["the cat sat on the mat", "the dog sat on the log"] * 20}),
                   str(path / "part-0.parquet"))
    return str(path)
