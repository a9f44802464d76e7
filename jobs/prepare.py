"""The spark-submit entry point of ``sparkw2v prepare`` (``sparkw2v/commands/prepare.py``, where its
documentation is): ``spark-submit jobs/prepare.py ...`` = ``sparkw2v prepare ...``."""

import sys

from sparkw2v.commands.prepare import *  # noqa: F401,F403 - the job's main and helpers, for tests and callers
from sparkw2v.commands.prepare import main

if __name__ == "__main__":
    sys.exit(main())
