"""Typed errors. The library raises them; the CLI edge turns each into one stderr line
and an exit code. Every message says what went wrong, where, and what to do."""

from __future__ import annotations


class CsdError(Exception):
    """Base class for errors that are the user's to fix (no traceback shown)."""

    exit_code = 1


class UsageError(CsdError):
    exit_code = 2


class UnknownModel(CsdError):
    pass


class ModelFileMissing(CsdError):
    pass


class UnsafeCheckpoint(CsdError):
    pass


class IndexNotFound(CsdError):
    pass


class IndexModelMismatch(CsdError):
    pass


class IndexLocked(CsdError):
    pass


class IndexFormatError(CsdError):
    pass


class SourceError(CsdError):
    pass


class PlanFormatError(CsdError):
    pass


class DatasetError(CsdError):
    pass
