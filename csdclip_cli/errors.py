"""Typed errors. The library raises them; the CLI edge turns each into one stderr line
and an exit code. Every message says what went wrong, where, and what to do."""

from __future__ import annotations


class CsdError(Exception):
    """Base class for errors that are the user's to fix (no traceback shown)."""

    exit_code = 1


class UsageError(CsdError):
    """Raised for a bad option, argument, input file, settings file or request (exit code 2)."""

    exit_code = 2


class UnknownModel(CsdError):
    """Raised when a model spec, family, architecture or pretrained tag is unknown, or a model is not CLIP-like."""


class ModelFileMissing(CsdError):
    """Raised when model weights are missing, unreadable, or do not fit the model spec."""


class UnsafeCheckpoint(CsdError):
    """Raised when a checkpoint holds pickled objects other than plain weights (torch.load weights_only=True)."""


class EncoderError(CsdError):
    """Raised when an encoder (often a plugin's) fails to load or encode, or returns vectors of another shape
    than its `dim` and the batch say."""


class IndexNotFound(CsdError):
    """Raised when the index root holds no index of the given name, or no index at all."""


class IndexModelMismatch(CsdError):
    """Raised when an index was built with another model, ANN kind, vector dtype or shard layout than asked for."""


class IndexLocked(CsdError):
    """Raised when another process holds the index's write lock."""


class IndexFormatError(CsdError):
    """Raised when an index on disk is unreadable, newer than this csd, or has a missing or malformed generation."""


class SourceError(CsdError):
    """Raised when an image source (folder, CN-CLIP LMDB, WebDataset shards) is missing, malformed or lacks an image."""


class PlanFormatError(CsdError):
    """Raised when a query plan (its JSON or its logic section) or a plan file does not parse."""


class DatasetError(CsdError):
    """Raised when an evaluation dataset lacks a split, gallery, queries or images, or has malformed lines."""


def first_line(e: BaseException, limit: int = 240) -> str:
    """The first line of an exception's message, cut at a word within `limit` characters (its
    type's name when the message is empty): the reason part of a one-line error."""
    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " …"
