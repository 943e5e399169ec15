"""The one hook through which every encoder family arrives, built-in or third-party.

A family is registered with `register(Family(...))`. Third-party packages expose a
callable in the entry-point group `csdclip.encoders`; it is called with `register`:

    [project.entry-points."csdclip.encoders"]
    myenc = "my_package.csd_plugin:register_encoders"

    def register_encoders(register):
        register(Family("myenc", load_my_encoder, "My encoder", examples=("myenc:base",)))
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np

from csdclip_cli.encoders.base import Encoder
from csdclip_cli.encoders.family import Family, LoadOptions
from csdclip_cli.encoders.spec import ModelSpec
from csdclip_cli.errors import EncoderError, UnknownModel, first_line

__all__ = [
    "ENTRY_POINT_GROUP",
    "Family",
    "LoadOptions",
    "families",
    "get_family",
    "load_encoder",
    "plugin_errors",
    "plugin_of",
    "register",
]

ENTRY_POINT_GROUP = "csdclip.encoders"

_FAMILIES: dict[str, Family] = {}
_PLUGIN_ERRORS: dict[str, str] = {}
_ORIGIN: dict[str, str] = {}  # family name -> the entry point (plugin) that registered it
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
        # a plugin does not take a built-in's name: `--model demo:tiny` ran the plugin's encoder
        # and `csd models list` showed its words, without a word said
        taken = sorted(n for n in staged if n in _FAMILIES and n not in _ORIGIN)
        if taken:
            _PLUGIN_ERRORS[ep.name] = (
                f"{ep.value}: registers {', '.join(taken)}, a family csd has built in; rename the plugin's family"
            )
            continue
        _FAMILIES.update(staged)
        _ORIGIN.update(dict.fromkeys(staged, ep.name))


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


def plugin_of(family: str) -> str | None:
    """The entry-point name of the plugin that registered `family`; None for a built-in family."""
    _load_families()
    return _ORIGIN.get(family)


def get_family(name: str) -> Family:
    """The family named `name`; raises UnknownModel, listing the known families and any plugin
    that failed to load, when there is none."""
    fams = families()
    if name not in fams:
        broken = "".join(f"; plugin {p!r} failed to load ({err})" for p, err in sorted(_PLUGIN_ERRORS.items()))
        raise UnknownModel(f"unknown model family {name!r}; known families: {', '.join(sorted(fams))}{broken}")
    return fams[name]


def who(encoder_or_spec: Any) -> str:
    """'model demo:tiny', or 'encoder plugin 'bad' (model bad:enc)' for a family a plugin registered."""
    spec = encoder_or_spec if isinstance(encoder_or_spec, str) else str(getattr(encoder_or_spec, "spec", "?"))
    plugin = plugin_of(spec.split(":", 1)[0])
    return f"encoder plugin {plugin!r} (model {spec})" if plugin else f"model {spec}"


def failure(encoder_or_spec: Any, doing: str, e: BaseException) -> EncoderError:
    """The one-line error for an exception raised by an encoder while `doing` (e.g. 'encoding images')."""
    hint = ""
    if "out of memory" in str(e).lower():
        hint = "; a smaller --batch-size (or --device cpu) needs less memory"
    return EncoderError(f"{who(encoder_or_spec)} failed while {doing}: {type(e).__name__}: {first_line(e)}{hint}")


def check_encoder(encoder: Any, spec: str) -> Any:
    """`encoder` as a family's load returned it, once it has what csd reads of every encoder: a
    spec and fingerprint (str), a dim (int >= 1) and the three methods. Raises EncoderError naming
    what is missing."""
    missing = [a for a in ("preprocess", "encode_images", "encode_texts") if not callable(getattr(encoder, a, None))]
    missing += [a for a in ("spec", "fingerprint") if not isinstance(getattr(encoder, a, None), str)]
    dim = getattr(encoder, "dim", None)
    if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool) or dim < 1:
        missing.append("dim (a whole number >= 1)")
    if missing:
        raise EncoderError(
            f"{who(spec)}: its family's load returned {type(encoder).__name__}, which lacks "
            f"{', '.join(missing)} (the Encoder protocol, csdclip_cli.encoders.base)"
        )
    return encoder


def prints_to_stderr() -> contextlib.AbstractContextManager[Any]:
    """Send what encoder code prints to stderr: stdout carries results (`csd search --paths-only
    | xargs`, --json), and a plugin's print() came out as the first path. In the main thread
    only: sys.stdout is the process's, and two request threads of `csd serve` swapping it could
    leave it on stderr."""
    if threading.current_thread() is threading.main_thread():
        return contextlib.redirect_stdout(sys.stderr)
    return contextlib.nullcontext()


def load_encoder(
    spec: str | ModelSpec,
    weights: str | Path | None = None,
    device: str = "auto",
    trust_remote_code: bool = False,
    models_dir: str | Path | None = None,
) -> Encoder:
    """Load the encoder named by `spec` (e.g. 'clip:ViT-B/16', 'demo:tiny'). Raises UnknownModel
    for an unknown family, the family's own CsdError (ModelFileMissing, ...), and EncoderError
    when the family's load raises anything else or returns no Encoder."""
    from csdclip_cli import config
    from csdclip_cli.errors import CsdError

    parsed = spec if isinstance(spec, ModelSpec) else ModelSpec.parse(spec)
    family = get_family(parsed.family)
    opts = LoadOptions(
        weights=Path(weights).expanduser() if weights else None,
        device=device,
        trust_remote_code=trust_remote_code,
        models_dir=config.models_dir(models_dir),
    )
    try:
        with prints_to_stderr():
            encoder = family.load(parsed, opts)
    except CsdError:
        raise
    except Exception as e:  # a plugin's loader (a package it lacks too), a library's on corrupt weights
        raise failure(str(parsed), "loading", e) from e
    return check_encoder(encoder, str(parsed))
