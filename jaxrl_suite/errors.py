"""The suite's own error types: every user-facing failure names file, field and expectation."""

from __future__ import annotations


class SuiteError(Exception):
    """Base class for errors the CLI reports as one line, without a traceback."""


class DatasetError(SuiteError):
    """A dataset file or array is missing, malformed or inconsistent.

    The message always reads ``<source>: field '<field>': expected <expected>, found <found>``
    so that a user can find and fix the offending input without reading a traceback.
    """

    def __init__(self, source: str | None, field: str, expected: str, found: str):
        self.source = source or "<in-memory dataset>"
        self.field = field
        self.expected = expected
        self.found = found
        super().__init__(
            f"{self.source}: field '{field}': expected {expected}, found {found}"
        )


class EnvError(SuiteError):
    """An environment name is unknown or an env cannot be built."""
