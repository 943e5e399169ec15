"""Every public function, class and method of csdclip_cli has a docstring (what `help()`
shows: a method that overrides a documented one inherits its docstring)."""

from __future__ import annotations

import dataclasses
import functools
import importlib
import inspect
from pathlib import Path
from types import ModuleType
from typing import NamedTuple

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


def _function(member: object) -> object | None:
    """The function behind a class or module attribute (property, cached_property, static or
    class method, functools wrapper such as lru_cache), or None when it is not one."""
    if isinstance(member, property):
        return member.fget
    if isinstance(member, functools.cached_property):
        return member.func
    if isinstance(member, (staticmethod, classmethod)):
        member = member.__func__
    if inspect.isfunction(member) or (callable(member) and hasattr(member, "__wrapped__")):
        return member
    return None


def _own_doc(obj: object) -> str:
    """A docstring written for `obj`: not the "Name(field, ...)" that dataclass and NamedTuple
    generate."""
    doc = (obj.__doc__ or "").strip()
    generated = dataclasses.is_dataclass(obj) or (inspect.isclass(obj) and issubclass(obj, tuple))
    if generated and doc.startswith(f"{getattr(obj, '__name__', '')}("):
        return ""
    return doc


def _class_members(cls: type, where: str, missing: list[str]) -> None:
    """Append the undocumented public methods, properties and nested classes of `cls`."""
    for attr, member in vars(cls).items():
        if not _public(attr):
            continue
        if inspect.isclass(member) and member.__qualname__.startswith(cls.__qualname__ + "."):
            if not _own_doc(member):
                missing.append(f"{where}.{attr}")
            _class_members(member, f"{where}.{attr}", missing)
            continue
        if _function(member) is None:
            continue
        if not any((getattr(_function(vars(c).get(attr)), "__doc__", None) or "").strip() for c in cls.__mro__):
            missing.append(f"{where}.{attr}")


def undocumented(modules: list[ModuleType]) -> list[str]:
    """module.qualname of every public function, class and method defined in `modules`
    without a docstring, its own or one of the method it overrides."""
    missing: list[str] = []
    for mod in modules:
        for name, obj in vars(mod).items():
            if not _public(name) or getattr(obj, "__module__", None) != mod.__name__:
                continue
            is_function = _function(obj) is not None and not inspect.isclass(obj)
            if (is_function or inspect.isclass(obj)) and not _own_doc(obj):
                missing.append(f"{mod.__name__}.{name}")
            if inspect.isclass(obj) and not issubclass(obj, BaseException):
                _class_members(obj, f"{mod.__name__}.{obj.__qualname__}", missing)
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

    class Pair(NamedTuple):  # NamedTuple writes "Pair(a, b)"
        a: int
        b: int

    class Outer:
        """Documented."""

        class Inner:
            pass

        @functools.cached_property
        def cached(self) -> int:
            return 1

    @functools.lru_cache
    def cached_function() -> int:
        return 1

    Documented.__module__ = function.__module__ = "fake_mod"
    for obj in (Record, Pair, Outer, cached_function):
        obj.__module__ = "fake_mod"
    Documented.__qualname__, Outer.__qualname__, Outer.Inner.__qualname__ = "Documented", "Outer", "Outer.Inner"
    for obj in (Documented, function, Record, Pair, Outer, cached_function):
        setattr(mod, obj.__name__, obj)
    assert sorted(undocumented([mod])) == [
        "fake_mod.Documented.bare",
        "fake_mod.Documented.prop",
        "fake_mod.Outer.Inner",
        "fake_mod.Outer.cached",
        "fake_mod.Pair",
        "fake_mod.Record",
        "fake_mod.cached_function",
        "fake_mod.function",
    ]
