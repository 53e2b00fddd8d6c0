"""The cache: what a whitespace run computed, kept in the user's cache folder between runs —
the fitted model (``fitted``) and the facts read from the export (``frames``: the used lines up
to T, the accounts and products, the row account), so that a warm run neither reads the export
nor fits again.

Where: ``$XSELL_CACHE_DIR`` when set, else ``$XDG_CACHE_HOME/xsell`` (``~/.cache/xsell`` when that
is unset) on Linux, ``~/Library/Caches/xsell`` on macOS, ``%LOCALAPPDATA%\\xsell\\Cache`` on
Windows: the folders platformdirs would choose, without the dependency. One sub-folder per fit,
named by a digest of the input files (path, size, modification time), every setting and xsell's
own code (``code_fingerprint``), so a changed export, config, option or upgrade never reads an old
entry. Deleting the folder is always safe.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import polars as pl

from .metrics import choice

KEEP = 8  # entries kept of each kind; the oldest go first
# ... and no more than this many bytes of them, the newest always kept: a fit on a wide
# catalogue holds four items x items tables (Online Retail's 3.7 k products: 430 MB).
KEEP_BYTES = 1 << 30


def cache_dir() -> Path:
    own = os.environ.get("XSELL_CACHE_DIR")
    if own:
        return Path(own)
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "xsell"
    if sys.platform == "win32":
        local = os.environ.get("LOCALAPPDATA")
        return (Path(local) if local else Path.home() / "AppData" / "Local") / "xsell" / "Cache"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache") / "xsell"


def fingerprint(paths: Iterable[Path]) -> list[tuple[str, int, int, int, int]]:
    """(absolute path, size, mtime, ctime in ns, inode) of every input file (a folder: of every
    file in it). ``cp -p`` and ``rsync -t`` give a new export the old one's size and mtime; no
    tool can set the change time (ctime), which any write or replacement moves."""
    out: list[tuple[str, int, int, int, int]] = []
    for path in paths:
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for f in files:
            try:
                st = f.stat()
            except OSError:
                continue
            out.append((str(f.resolve()), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino))
    return sorted(out)


@cache
def code_fingerprint() -> list[tuple[str, int, int, int, int]]:
    """xsell's own source files (as ``fingerprint``): an upgrade or an edit never reads an entry
    an older xsell wrote. Not the compiled copies under ``__pycache__``: Python rewrites them when
    it likes (another interpreter, a checkout that touched a file), which threw away fits that
    the code behind them still matched."""
    return source_fingerprint(Path(__file__).resolve().parent)


def source_fingerprint(root: Path) -> list[tuple[str, int, int, int, int]]:
    """``fingerprint`` of the files under ``root`` but those under a ``__pycache__`` folder."""
    return fingerprint(sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts))


def fitted(key: dict[str, Any], fit: Callable[[], choice.Fitted | None], *, use: bool) -> choice.Fitted | None:
    """The fit saved under ``key``, else ``fit()`` (saved for next time when ``use``)."""
    if not use:
        return fit()
    folder = cache_dir() / ("whitespace-" + choice.cache_key({**key, "code": code_fingerprint()}))
    got = choice.load(folder) if folder.exists() else None
    if got is not None:
        return got
    made = fit()
    if made is None:
        return None
    try:
        _write(folder, lambda work: choice.save(made, work))
        _prune(folder.parent)
    except OSError:
        pass  # a read-only or full cache folder only costs the next run a fit
    return made


Frames = tuple[dict[str, pl.DataFrame], dict[str, Any]]


def frames(kind: str, key: Mapping[str, Any], make: Callable[[], Frames]) -> Frames:
    """Named frames and a JSON-able ``meta`` saved under ``kind`` and ``key``, else ``make()``
    (then saved: one Parquet file per frame, which keeps every column's type, and meta.json)."""
    text = json.dumps({"kind": kind, "code": code_fingerprint(), **key}, sort_keys=True, default=str)
    folder = cache_dir() / f"{kind}-{hashlib.sha256(text.encode()).hexdigest()[:24]}"
    got = _load_frames(folder)
    if got is not None:
        return got
    made = make()
    try:
        _write(folder, lambda work: _save_frames(made, work))
        _prune(folder.parent, kind)
    except OSError:
        pass  # a read-only or full cache folder only costs the next run a read
    return made


def _write(folder: Path, write: Callable[[Path], None]) -> None:
    """``write`` fills a temporary folder beside ``folder``, which is then renamed into place: a
    reader never sees half an entry."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".tmp-", dir=folder.parent))
    try:
        write(work)
        if folder.exists():
            shutil.rmtree(folder, ignore_errors=True)
        os.replace(work, folder)
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)


def _save_frames(made: Frames, folder: Path) -> None:
    """One Parquet file per frame (it keeps every column's type) and meta.json."""
    named, meta = made
    for name, frame in named.items():
        frame.write_parquet(folder / f"{name}.parquet", compression="zstd", statistics=False)
    (folder / "meta.json").write_text(json.dumps({"frames": sorted(named), "meta": meta}))


def _load_frames(folder: Path) -> Frames | None:
    try:
        saved = json.loads((folder / "meta.json").read_text())
        named = {name: pl.read_parquet(folder / f"{name}.parquet") for name in saved["frames"]}
        return named, dict(saved["meta"])
    except (OSError, ValueError, KeyError, pl.exceptions.PolarsError):
        return None


def _prune(root: Path, kind: str = "whitespace") -> None:
    """Keep the KEEP most recent entries of ``kind`` that fit in KEEP_BYTES together (the
    most recent one whatever its size)."""
    entries = sorted((p for p in root.glob(f"{kind}-*") if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True)
    kept, total = 0, 0
    for entry in entries:
        size = sum(f.stat().st_size for f in entry.rglob("*") if f.is_file())
        if kept and (kept >= KEEP or total + size > KEEP_BYTES):
            shutil.rmtree(entry, ignore_errors=True)
            continue
        kept, total = kept + 1, total + size
