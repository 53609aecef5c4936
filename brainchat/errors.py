"""Errors a user can meet, each with a message that says what to do next.

The command line catches :class:`BrainchatError`, prints its message on one line and exits
with its ``exit_code``; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class BrainchatError(Exception):
    """Base of every error that is the user's to fix; ``str(error)`` is one line."""

    exit_code = 1


class ConfigError(BrainchatError):
    """A configuration key is unknown or its value is invalid (exit code 2, like a usage error)."""

    exit_code = 2


class DeviceUnavailableError(BrainchatError):
    """``device = "gpu"`` was asked for but no usable CUDA device was found."""

    exit_code = 2


class SnapshotError(BrainchatError):
    """A snapshot cannot be written, read, or does not fit the running brain; nothing was changed."""

    exit_code = 1


class LogError(BrainchatError):
    """The conversation log cannot be read or written (unreadable, locked, not a brainchat log)."""

    exit_code = 1


class ImageError(BrainchatError):
    """An image that cannot be read or shown (missing, unreadable, a format the reader does not take)."""

    exit_code = 1
