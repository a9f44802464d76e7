"""Import the spark-submit entry points under jobs/ as modules, to call their main()."""

import importlib.util
from pathlib import Path

JOBS = Path(__file__).resolve().parents[1] / "jobs"


def load_job(name: str):
    spec = importlib.util.spec_from_file_location(f"sparkw2v_job_{name}", JOBS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
