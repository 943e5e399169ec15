"""The one hook through which every encoder family arrives, built-in or third-party.

A family is registered with `register(Family(...))`. Third-party packages expose a
callable in the entry-point group `csdclip.encoders`; it is called with `register`:

    [project.entry-points."csdclip.encoders"]
    myenc = "my_package.csd_plugin:register_encoders"

    def register_encoders(register):
        register(Family("myenc", load_my_encoder, "My encoder", examples=("myenc:base",)))
"""

from __future__ import annotations

import os
from pathlib import Path

from csdclip_cli.encoders.base import Encoder
from csdclip_cli.encoders.family import Family, LoadOptions
from csdclip_cli.encoders.spec import ModelSpec
from csdclip_cli.errors import UnknownModel

__all__ = [
    "ENTRY_POINT_GROUP",
    "Family",
    "LoadOptions",
    "families",
    "get_family",
    "load_encoder",
    "plugin_errors",
    "register",
]

ENTRY_POINT_GROUP = "csdclip.encoders"

_FAMILIES: dict[str, Family] = {}
_PLUGIN_ERRORS: dict[str, str] = {}
_loaded = False


def register(family: Family) -> None:
    """Add `family` under its name; a later family of the same name replaces the earlier one."""
    _FAMILIES[family.name] = family


def _load_families() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    import csdclip_cli.encoders.builtin as builtin

    builtin.register_builtins(register)
    if os.environ.get("CSD_NO_PLUGINS") == "1":
        return
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        # a plugin's families arrive together or not at all, and one that raises leaves the
        # built-ins and the other plugins usable: the error is kept for `plugin_errors()`
        staged: dict[str, Family] = {}

        def stage(family: Family, staged: dict[str, Family] = staged) -> None:
            staged[family.name] = family

        try:
            ep.load()(stage)
        except Exception as e:
            _PLUGIN_ERRORS[ep.name] = f"{ep.value}: {type(e).__name__}: {e}"
            continue
        _FAMILIES.update(staged)


def families() -> dict[str, Family]:
    """Every registered family by name (a copy): the built-ins, then the entry-point plugins unless
    CSD_NO_PLUGINS=1, loaded on the first call."""
    _load_families()
    return dict(_FAMILIES)


def plugin_errors() -> dict[str, str]:
    """Entry-point plugins that raised while loading or registering: entry-point name ->
    "module:attr: ErrorType: message". None of such a plugin's families is registered."""
    _load_families()
    return dict(_PLUGIN_ERRORS)


def get_family(name: str) -> Family:
    """The family named `name`; raises UnknownModel, listing the known families and any plugin
    that failed to load, when there is none."""
    fams = families()
    if name not in fams:
        broken = "".join(f"; plugin {p!r} failed to load ({err})" for p, err in sorted(_PLUGIN_ERRORS.items()))
        raise UnknownModel(f"unknown model family {name!r}; known families: {', '.join(sorted(fams))}{broken}")
    return fams[name]


def load_encoder(
    spec: str | ModelSpec,
    weights: str | Path | None = None,
    device: str = "auto",
    trust_remote_code: bool = False,
    models_dir: str | Path | None = None,
) -> Encoder:
    """Load the encoder named by `spec` (e.g. 'clip:ViT-B/16', 'demo:tiny')."""
    from csdclip_cli import config

    parsed = spec if isinstance(spec, ModelSpec) else ModelSpec.parse(spec)
    family = get_family(parsed.family)
    opts = LoadOptions(
        weights=Path(weights).expanduser() if weights else None,
        device=device,
        trust_remote_code=trust_remote_code,
        models_dir=config.models_dir(models_dir),
    )
    return family.load(parsed, opts)
