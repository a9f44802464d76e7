"""``sparkw2v SUBCOMMAND [ARGS...]`` and ``python -m sparkw2v SUBCOMMAND [ARGS...]``.

Each subcommand is a job of its own (``sparkw2v SUBCOMMAND --help``); its result goes to stdout,
its log and errors to stderr, exit status 2 on bad input.
"""

from __future__ import annotations

import sys

from .commands import SUBCOMMANDS, load


def usage() -> str:
    width = max(len(name) for name in SUBCOMMANDS)
    lines = [f"  {name:<{width}}  {text}" for name, (_, text) in SUBCOMMANDS.items()]
    return ("usage: sparkw2v SUBCOMMAND [ARGS...]   (sparkw2v SUBCOMMAND --help for its options)\n\n"
            "subcommands:\n" + "\n".join(lines) + "\n\n"
            "On a cluster: sparkw2v train --master yarn ... (client mode), or spark-submit the module's file:\n"
            "  spark-submit \"$(python -m sparkw2v path train)\" ...")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else 2
    if argv[0] == "path" and len(argv) == 2 and argv[1] in SUBCOMMANDS:  # for spark-submit
        print(load(argv[1]).__file__)
        return 0
    if argv[0] not in SUBCOMMANDS:
        print(f"sparkw2v: error: unknown subcommand {argv[0]!r}; one of: {', '.join(SUBCOMMANDS)}",
              file=sys.stderr)
        return 2
    return load(argv[0]).main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
