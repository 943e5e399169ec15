"""Paths and process-wide defaults, resolved in one place.

Precedence for every path: command-line option > environment variable > default.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

ENV_INDEXES = "CSD_INDEXES"
ENV_MODELS = "CSD_MODELS"
ENV_DATA = "CSD_DATA"
ENV_CACHE = "CSD_CACHE"


def prepare_environment() -> None:
    """Set switches that libraries read only at import time.

    Must run before torch, huggingface_hub or llama_cpp are imported: the hub client
    reads its offline switch at import (without it a missing tag costs ~47 s of retries),
    and OpenMP and OpenBLAS threads busy-wait unless told otherwise (30x slower generation on
    2 cores; numpy must not be imported yet for the OpenBLAS switch to count).
    """
    if os.environ.get("CSD_ONLINE") != "1":
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    if not os.environ.get("OMP_WAIT_POLICY"):
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    # numpy's OpenBLAS threads spin ~0.1 s after each product (2^28 cycles); on 2 cores that
    # spinning halved the speed of faiss's search right after a re-scoring (1M: 10.1 ms, 6.1
    # with a 2^4-cycle timeout): sleep at once instead
    os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def index_root(override: str | Path | None = None) -> Path:
    """The folder that holds the indexes: `override`, else $CSD_INDEXES, else ./indexes."""
    return Path(override or os.environ.get(ENV_INDEXES) or "indexes").expanduser()


def models_dir(override: str | Path | None = None) -> Path:
    """The folder of local model weights: `override`, else $CSD_MODELS, else ./models."""
    return Path(override or os.environ.get(ENV_MODELS) or "models").expanduser()


def data_dir(override: str | Path | None = None) -> Path:
    """The folder of datasets: `override`, else $CSD_DATA, else ./data."""
    return Path(override or os.environ.get(ENV_DATA) or "data").expanduser()


def cache_dir() -> Path:
    """The cache folder: $CSD_CACHE, else $XDG_CACHE_HOME/csd, else ~/.cache/csd."""
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "csd"
    return Path(os.environ.get(ENV_CACHE) or default).expanduser()


def config_file() -> Path | None:
    """The settings file: $CSD_CONFIG, else ./csd.toml, else ~/.config/csd/config.toml.
    Raises UsageError when $CSD_CONFIG names no file (it was ignored without a word)."""
    from csdclip_cli.errors import UsageError

    env = os.environ.get("CSD_CONFIG")
    if env and not Path(env).expanduser().is_file():
        what = "is a folder, not a settings file" if Path(env).expanduser().is_dir() else "no such settings file"
        raise UsageError(f"CSD_CONFIG={env}: {what}; fix the path or unset CSD_CONFIG")
    for cand in (env, "csd.toml", Path.home() / ".config" / "csd" / "config.toml"):
        if cand and Path(cand).expanduser().is_file():
            return Path(cand).expanduser()
    return None


# the tables of the settings file and the keys of [rewrite] with their types (the [composite]
# keys are search.composite.RANGES, checked where they are used)
TABLES = ("composite", "rewrite")
REWRITE_KEYS: dict[str, tuple[type, ...]] = {"llm": (str,), "adapter": (str,), "timeout": (int, float)}
PATH_KEYS = {"rewrite": ("llm", "adapter")}  # read from the settings file's folder when relative
MAX_TIMEOUT = 24 * 3600  # seconds an LLM generation may be given (rewrite.llm.default_timeout checks it too)


def settings(section: str) -> dict:
    """One table of the settings file ({} when there is none), e.g. settings("rewrite")["llm"].
    A path in it (PATH_KEYS: [rewrite] llm and adapter) has `~` expanded and, when relative, is
    taken from the settings file's folder, not the working folder: `llm = "b.gguf"` in
    /x/cfg/csd.toml is /x/cfg/b.gguf wherever csd runs.
    Raises UsageError, naming the file, for one that cannot be read or parsed, an unknown table
    or top-level key (a misspelt [compsite] was ignored), a table name given a value (composite = 5),
    or a [rewrite] value of the wrong type or a timeout not above 0 seconds."""
    import tomllib

    from csdclip_cli.errors import UsageError

    path = config_file()
    if path is None:
        return {}
    try:
        text = path.read_text(encoding="utf-8")
        # JSON by its suffix ($CSD_CONFIG=x.json said 'Invalid statement'), TOML otherwise
        data = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as e:
        raise UsageError(f"settings file {path} does not parse: {e}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"settings file {path} cannot be read ({e}); it must be UTF-8 TOML") from None
    if not isinstance(data, dict):
        raise UsageError(f"settings file {path} must hold tables ({', '.join(TABLES)}), not {type(data).__name__}")
    for key, value in data.items():
        if key not in TABLES:
            raise UsageError(f"settings file {path}: unknown {key!r}; it may hold the tables {', '.join(TABLES)}")
        if not isinstance(value, dict):  # `composite = 5` was called unknown, though its name is right
            raise UsageError(
                f"settings file {path}: {key} must be a table, not {value!r}; "
                f"write [{key}] on a line of its own with its keys below it"
            )
    # [rewrite] is checked whichever table is asked for: a bad timeout waited for the LLM to run
    for key, value in data.get("rewrite", {}).items():
        kinds = REWRITE_KEYS.get(key)
        if kinds is None:
            raise UsageError(f"settings file {path} [rewrite]: unknown {key!r}; known: {', '.join(REWRITE_KEYS)}")
        if isinstance(value, bool) or not isinstance(value, kinds):
            need = "a path (a string)" if str in kinds else "a number of seconds"
            raise UsageError(f"settings file {path} [rewrite]: {key} must be {need}, not {value!r}")
        # 0 became 60 s (`... or 60` where the timeout is read); nan and inf are numbers too
        if key == "timeout" and isinstance(value, (int, float)) and not 0 < value <= MAX_TIMEOUT:
            raise UsageError(
                f"settings file {path} [rewrite]: timeout must be a positive number of seconds "
                f"(at most {MAX_TIMEOUT}), not {value!r}"
            )
    table = dict(data.get(section, {}))
    for key in PATH_KEYS.get(section, ()):
        if table.get(key):  # "" stays unset
            table[key] = str(path.parent / Path(table[key]).expanduser())  # an absolute one replaces the folder
    return table
