"""A restricted unpickler for CN-CLIP `pairs` values: plain tuples/lists/str/int only.

The default unpickler runs whatever a pickle names (os.system, ...); a downloaded
dataset must never get to do that.
"""

from __future__ import annotations

import io
import pickle
from typing import Any


class UnsafePickle(Exception):
    """Raised when a pickle names a class or function, or holds a type other than tuple, list, str, int, float,
    bytes or None."""


class _Restricted(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        raise UnsafePickle(f"pickle refers to {module}.{name}; only plain tuples, lists, str and int are allowed")


def safe_loads(data: bytes) -> Any:
    """Unpickle `data` without importing or calling anything; raises UnsafePickle on anything but plain data."""
    obj = _Restricted(io.BytesIO(bytes(data))).load()
    _check(obj)
    return obj


def _check(obj: Any) -> None:
    if isinstance(obj, (tuple, list)):
        for x in obj:
            _check(x)
    elif not isinstance(obj, (str, int, float, bytes, type(None))):
        raise UnsafePickle(f"unexpected {type(obj).__name__} in pickle")
