"""Every public function, class and method of csdclip_cli has a docstring (what `help()`
shows: a method that overrides a documented one inherits its docstring)."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
from pathlib import Path
from types import ModuleType

import csdclip_cli


def _modules() -> list[ModuleType]:
    """Every module of the package, found by file (pkgutil skips folders without __init__.py)."""
    root = Path(csdclip_cli.__file__).parent
    names = []
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__main__":
            continue
        if parts[-1] == "__init__":
            parts.pop()
        names.append(".".join(parts))
    return [importlib.import_module(n) for n in names]


def _public(name: str) -> bool:
    return not name.startswith("_")


def _doc(member: object) -> str | None:
    """The docstring of a class attribute: a function, property, static or class method."""
    if isinstance(member, property):
        member = member.fget
    if isinstance(member, (staticmethod, classmethod)):
        member = member.__func__
    return member.__doc__ if inspect.isfunction(member) else None


def _own_doc(obj: object) -> str:
    """A docstring written for `obj`: not the "Name(field: type, ...)" that dataclass generates."""
    doc = (obj.__doc__ or "").strip()
    if dataclasses.is_dataclass(obj) and doc.startswith(f"{getattr(obj, '__name__', '')}("):
        return ""
    return doc


def undocumented(modules: list[ModuleType]) -> list[str]:
    """module.qualname of every public function, class and method defined in `modules`
    without a docstring, its own or one of the method it overrides."""
    missing = []
    for mod in modules:
        for name, obj in vars(mod).items():
            if not _public(name) or getattr(obj, "__module__", None) != mod.__name__:
                continue
            if (inspect.isfunction(obj) or inspect.isclass(obj)) and not _own_doc(obj):
                missing.append(f"{mod.__name__}.{name}")
            if not inspect.isclass(obj) or issubclass(obj, BaseException):
                continue  # an exception class says what it means in its own docstring
            for attr, member in vars(obj).items():
                if not _public(attr) or not (
                    inspect.isfunction(member) or isinstance(member, (property, staticmethod, classmethod))
                ):
                    continue
                if not any((_doc(vars(c).get(attr)) or "").strip() for c in obj.__mro__):
                    missing.append(f"{mod.__name__}.{obj.__qualname__}.{attr}")
    return missing


def test_every_public_function_class_and_method_is_documented() -> None:
    modules = _modules()
    assert len(modules) > 60
    assert undocumented(modules) == []


def test_the_check_finds_an_undocumented_method() -> None:
    mod = ModuleType("fake_mod")

    class Documented:
        """A class."""

        def fine(self) -> None:
            """Documented."""

        def bare(self) -> None:
            pass

        @property
        def prop(self) -> int:
            return 1

    def function() -> None:
        pass

    @dataclasses.dataclass
    class Record:  # dataclass writes "Record(x: int)" as its __doc__: not documentation
        x: int

    Documented.__module__ = function.__module__ = "fake_mod"
    Record.__module__ = "fake_mod"
    Documented.__qualname__ = "Documented"
    mod.Documented, mod.function, mod.Record = Documented, function, Record  # type: ignore[attr-defined]
    assert sorted(undocumented([mod])) == [
        "fake_mod.Documented.bare",
        "fake_mod.Documented.prop",
        "fake_mod.Record",
        "fake_mod.function",
    ]
