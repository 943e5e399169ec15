"""A Chinese-CLIP-format LMDB: `imgs/` is an LMDB environment whose keys are image ids
(UTF-8) and values urlsafe-base64 text of the image bytes, plus a `num_images` key."""

from __future__ import annotations

import base64
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from csdclip_cli.errors import SourceError
from csdclip_cli.sources.base import Item, absolute, key_bytes, printable_key

SPECIAL_KEYS = {b"num_images", b"num_samples"}


def find_imgs_env(path: Path) -> Path | None:
    """Accept the imgs env itself, its parent lmdb dir, or a dataset dir holding lmdb/imgs."""
    for cand in (path, path / "imgs", path / "lmdb" / "imgs"):
        if (cand / "data.mdb").is_file():
            return cand
    return None


_ENVS: dict[str, object] = {}
# per open environment: the bytes its pages need (its last page's end), and the file it mapped
# (device, inode, mtime): a file replaced or rewritten since is opened again
_NEEDS: dict[str, int] = {}
_FILES: dict[str, tuple[int, int, int]] = {}
MIN_BYTES = 2 * 4096  # LMDB's two meta pages (4 KiB pages on x86-64)


def _cut_short(data: Path, size: int, need: int) -> SourceError:
    return SourceError(
        f"{data} is cut short ({size:,} bytes; its pages need {need:,}): it is being copied or written, or was "
        "truncated; wait for the copy to finish or copy it again"
    )


def _starts_as_lmdb(data: Path) -> bool:
    """Whether `data` begins with an LMDB meta page (its magic 0xBEEFC0DE after the 16-byte page header)."""
    with data.open("rb") as f:
        return f.read(20)[16:20] == (0xBEEFC0DE).to_bytes(4, "little")


def _open_env(env_dir: Path):  # noqa: ANN202 - lmdb.Environment, imported lazily
    """LMDB allows one open environment per path and process: share it. Checked against data.mdb's
    size on every call: the environment is memory-mapped without a lock, and reading a page past
    the end of a file cut short (a copy in progress, a truncated download) killed the process with
    SIGBUS, printing nothing (index build, search --html, csd serve). Raises SourceError."""
    import lmdb

    key = str(env_dir)
    data = env_dir / "data.mdb"
    try:
        st = data.stat()
    except OSError as e:
        raise SourceError(f"{data} cannot be read ({e.strerror})") from None
    size, file = st.st_size, (st.st_dev, st.st_ino, st.st_mtime_ns)
    if key in _ENVS:
        if file == _FILES[key]:
            if size < _NEEDS[key]:  # cut since it was opened
                raise _cut_short(data, size, _NEEDS[key])
            return _ENVS[key]
        # replaced (a new inode: the old map reads the old file, cut short or gone: SIGBUS) or
        # rewritten in place (its pages moved): opened again, and checked again
        old = _ENVS.pop(key)
        _NEEDS.pop(key)
        _FILES.pop(key)
        try:
            old.close()  # type: ignore[attr-defined]
        except Exception:  # already closed
            pass
    if size == 0:
        raise SourceError(f"{data} is not a readable LMDB (it is empty: 0 bytes); copy the LMDB again")
    if 0 < size < MIN_BYTES and _starts_as_lmdb(data):  # its meta pages alone are 8 KiB (junk: lmdb says)
        raise _cut_short(data, size, MIN_BYTES)
    try:
        env = lmdb.open(key, readonly=True, create=False, lock=False, readahead=False, meminit=False, max_readers=256)
    except lmdb.Error as e:  # a damaged or empty data.mdb: it was a traceback
        from csdclip_cli.errors import first_line

        raise SourceError(f"{data} is not a readable LMDB ({first_line(e)})") from None
    need = (int(env.info()["last_pgno"]) + 1) * int(env.stat()["psize"])
    if size < need:
        env.close()
        raise _cut_short(data, size, need)
    _ENVS[key], _NEEDS[key], _FILES[key] = env, need, file
    return env


@contextmanager
def _reading(data: Path) -> Iterator[None]:
    """lmdb's errors while reading (a page of the wrong type, not found, a map that grew: a file
    damaged or written over while it is read) as one SourceError naming the file (a traceback)."""
    import lmdb

    try:
        yield
    except lmdb.Error as e:
        from csdclip_cli.errors import first_line

        raise SourceError(
            f"{data} is damaged or was written over while it was read ({first_line(e)}); copy the LMDB again"
        ) from None


class LmdbSource:
    """Images of a CN-CLIP LMDB (`path` is the imgs env, its lmdb dir or the dataset dir); keys are image ids.

    Raises SourceError when `path` holds no imgs env with a data.mdb.
    """

    kind = "lmdb"

    def __init__(self, path: str | Path):

        p = Path(absolute(path))
        env_dir = find_imgs_env(p)
        if env_dir is None:
            raise SourceError(f"{path} holds no CN-CLIP image LMDB (looked for data.mdb in ., imgs/, lmdb/imgs/)")
        self.location = str(env_dir)
        _open_env(env_dir)  # refused now, not at the first read

    @property
    def env(self):  # noqa: ANN201 - lmdb.Environment, imported lazily
        """The shared environment, checked against data.mdb's size first (_open_env)."""
        return _open_env(Path(self.location))

    def signature(self) -> dict[str, int]:
        """What changes whenever the environment is written: LMDB's last transaction id and entry
        count, and data.mdb's size and mtime (a rebuilt file). Equal signatures: nothing to rescan."""
        import os

        st = os.stat(Path(self.location) / "data.mdb")
        return {
            "txnid": int(self.env.info()["last_txnid"]),
            "entries": int(self.env.stat()["entries"]),
            "size": st.st_size,
            "mtime_ns": st.st_mtime_ns,
        }

    def keys(self) -> Iterator[str]:
        """Every image id in key order, as items() spells it, without reading the images: a
        100k-image LMDB lists its ids in a moment (items() checksums every value)."""
        with _reading(Path(self.location) / "data.mdb"), self.env.begin() as txn:
            for key in txn.cursor().iternext(keys=True, values=False):
                if key not in SPECIAL_KEYS:
                    yield printable_key(key)

    def items(self) -> Iterator[Item]:
        """Every image id in key order (num_images / num_samples left out), with its value's size in bytes and its
        CRC-32 in place of an mtime."""
        with _reading(Path(self.location) / "data.mdb"), self.env.begin(buffers=True) as txn:
            for k, v in txn.cursor():
                key = bytes(k)
                if key in SPECIAL_KEYS:
                    continue
                skey = printable_key(key)  # a key that is not UTF-8 is spelled with \xNN
                # A content checksum stands in for mtime: LMDB values have no mtime of their own.
                yield Item(skey, len(v), float(zlib.crc32(bytes(v))), f"lmdb://{self.location}#{skey}")

    def read(self, key: str) -> bytes:
        """The image bytes for `key` (the stored urlsafe-base64 value, decoded); raises SourceError when absent,
        BadImage when the value is not base64 (raw image bytes, another dataset's format)."""
        import binascii

        from csdclip_cli.sources.decode import BadImage

        with _reading(Path(self.location) / "data.mdb"), self.env.begin() as txn:
            v = txn.get(key_bytes(key))
        if v is None:
            raise SourceError(f"image {key!r} is not in {self.location}")
        try:
            return base64.urlsafe_b64decode(v)
        except (binascii.Error, ValueError):  # it stopped the whole build with a traceback
            raise BadImage(
                "not base64: a CN-CLIP LMDB stores each image as urlsafe-base64 text (is this a CN-CLIP LMDB?)"
            ) from None


def write_lmdb_images(env_dir: str | Path, images: Iterator[tuple[str, bytes]]) -> int:
    """Write images in the CN-CLIP layout (used by the demo data and tests)."""
    import lmdb

    env_dir = Path(env_dir)
    env_dir.mkdir(parents=True, exist_ok=True)
    env = lmdb.open(str(env_dir), map_size=1 << 34)
    n = 0
    txn = env.begin(write=True)
    for key, data in images:
        txn.put(str(key).encode("utf-8"), base64.urlsafe_b64encode(data))
        n += 1
        if n % 1000 == 0:
            txn.commit()
            txn = env.begin(write=True)
    txn.put(b"num_images", str(n).encode())
    txn.commit()
    env.close()
    return n


def read_pairs(pairs_dir: str | Path) -> Iterator[tuple]:
    """(image_id, text_id, text) tuples from a CN-CLIP `pairs` LMDB, via the safe unpickler."""
    import lmdb

    from csdclip_cli.sources.safe_pickle import safe_loads

    env = lmdb.open(str(pairs_dir), readonly=True, create=False, lock=False, readahead=False, meminit=False)
    with env.begin() as txn:
        for k, v in txn.cursor():
            if k in SPECIAL_KEYS:
                continue
            yield safe_loads(v)
    env.close()
