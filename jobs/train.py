"""The spark-submit entry point of ``sparkw2v train`` (``sparkw2v/commands/train.py``, where its
documentation is): ``spark-submit jobs/train.py ...`` = ``sparkw2v train ...``."""

import sys

from sparkw2v.commands.train import *  # noqa: F401,F403 - the job's main and helpers, for tests and callers
from sparkw2v.commands.train import main

if __name__ == "__main__":
    sys.exit(main())
