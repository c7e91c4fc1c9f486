"""Errors that are the user's to fix: the CLI prints them as one line and exits non-zero."""

from __future__ import annotations

from autotune.db.records import DatabaseError


class UserError(Exception):
    """Bad input: an unknown model or target, a malformed job file, a wrong option."""


# What the CLI reports as one line instead of a traceback.
USER_ERRORS: tuple[type[BaseException], ...] = (UserError, DatabaseError)


def first_line(exc: BaseException, limit: int = 200) -> str:
    """The first line of an exception's message, for a one-line warning (its type's name when
    the message is empty)."""
    lines = str(exc).splitlines()
    return lines[0][:limit] if lines else type(exc).__name__


def last_line(error: BaseException | str, limit: int | None = None) -> str:
    """The last non-empty line of an error (an exception's message, or its text): the exception
    itself, after any traceback a worker or Ray put before it; at most `limit` characters. An
    empty message is its type's name (an exception) or "" (a text)."""
    lines = [ln.strip() for ln in str(error).splitlines() if ln.strip()]
    if not lines:
        return type(error).__name__ if isinstance(error, BaseException) else ""
    return lines[-1][:limit]
