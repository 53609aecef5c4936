"""The ``brainchat`` command line (Typer). ``python -m brainchat`` is the same program.

:mod:`brainchat.cli.app` holds the one app, its global options and the shared helpers; each
other module registers a group of commands on it, and importing them here is what registers
them (in this order, which is the order ``brainchat --help`` lists them in).

Every error a user can cause ends in one line on stderr and a non-zero exit code
(:mod:`brainchat.errors`); machine-readable output (``--json``) goes alone to stdout.
"""

from brainchat.cli.app import app
from brainchat.cli import run, remote, snapshots, chat, config, regions, top, web, log, bench, digits  # noqa: F401  (importing them registers their commands)

__all__ = ["app"]
