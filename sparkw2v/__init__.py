"""sparkw2v: skip-gram negative-sampling word2vec trained data-parallel on Apache Spark."""

__version__ = "0.1.0"

from .config import TrainConfig, load_config  # noqa: E402
from .embeddings import Embeddings  # noqa: E402

__all__ = ["Embeddings", "TrainConfig", "load_config", "__version__"]
