"""The spark-submit entry point of ``sparkw2v report`` (``sparkw2v/commands/report.py``, where its
documentation is): ``python jobs/report.py ...`` = ``sparkw2v report ...``."""

import sys

from sparkw2v.commands.report import *  # noqa: F401,F403 - the job's main and helpers, for tests and callers
from sparkw2v.commands.report import main

if __name__ == "__main__":
    sys.exit(main())
