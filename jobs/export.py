"""The spark-submit entry point of ``sparkw2v export`` (``sparkw2v/commands/export.py``, where its
documentation is): ``python jobs/export.py ...`` = ``sparkw2v export ...``."""

import sys

from sparkw2v.commands.export import *  # noqa: F401,F403 - the job's main and helpers, for tests and callers
from sparkw2v.commands.export import main

if __name__ == "__main__":
    sys.exit(main())
