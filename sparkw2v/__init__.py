"""sparkw2v: skip-gram negative-sampling word2vec trained data-parallel on Apache Spark."""

__version__ = "0.1.0"

__all__ = ["Embeddings", "TrainConfig", "load_config", "__version__"]

# where the public names live; imported on first use (PEP 562), so that a submodule such as
# sparkw2v.daemon, which Spark's Python daemon runs before it forks, imports no numpy or pyarrow
_PUBLIC = {"Embeddings": "embeddings", "TrainConfig": "config", "load_config": "config"}


def __getattr__(name: str):
    if name in _PUBLIC:
        import importlib

        value = getattr(importlib.import_module(f".{_PUBLIC[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted({*globals(), *_PUBLIC})
