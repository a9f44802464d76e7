"""The entry point of ``sparkw2v evaluate`` in a checkout (``sparkw2v/commands/evaluate.py``, where its
documentation is): ``python jobs/evaluate.py ...`` = ``sparkw2v evaluate ...``."""

import sys

from sparkw2v.commands.evaluate import *  # noqa: F401,F403 - the job's main and helpers, for tests and callers
from sparkw2v.commands.evaluate import main

if __name__ == "__main__":
    sys.exit(main())
