"""The spark-submit entry point of ``sparkw2v query`` (``sparkw2v/commands/query.py``, where its
documentation is): ``spark-submit jobs/query.py ...`` = ``sparkw2v query ...``."""

import sys

from sparkw2v.commands.query import *  # noqa: F401,F403 - the job's main and helpers, for tests and callers
from sparkw2v.commands.query import main

if __name__ == "__main__":
    sys.exit(main())
