"""Errors of the connectors: each says what went wrong, where, and how to fix it."""

from __future__ import annotations


class ConnectorError(RuntimeError):
    """A connector could not do its job (broker unreachable, bad file, bad archive)."""


class ReaderError(ConnectorError):
    """An input file cannot be read at all (missing, wrong format, no header)."""


class ArchiveError(ConnectorError):
    """An audit archive is incomplete or does not match its manifest."""
