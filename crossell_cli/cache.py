"""The fit cache: a fitted whitespace model kept in the user's cache folder between runs.

Where: ``$XSELL_CACHE_DIR`` when set, else ``$XDG_CACHE_HOME/xsell`` (``~/.cache/xsell`` when that
is unset) on Linux, ``~/Library/Caches/xsell`` on macOS, ``%LOCALAPPDATA%\\xsell\\Cache`` on
Windows: the folders platformdirs would choose, without the dependency. One sub-folder per fit,
named by a digest of the input files (path, size, modification time) and every setting, so a
changed export, config or option never reads an old fit. Deleting the folder is always safe.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from .metrics import choice

KEEP = 8  # fits kept; the oldest go first


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


def fingerprint(paths: Iterable[Path]) -> list[tuple[str, int, int]]:
    """(absolute path, size, mtime in ns) of every input file (a folder: of every file in it)."""
    out: list[tuple[str, int, int]] = []
    for path in paths:
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for f in files:
            try:
                st = f.stat()
            except OSError:
                continue
            out.append((str(f.resolve()), st.st_size, st.st_mtime_ns))
    return sorted(out)


def fitted(key: dict[str, Any], fit: Callable[[], choice.Fitted | None], *, use: bool) -> choice.Fitted | None:
    """The fit saved under ``key``, else ``fit()`` (saved for next time when ``use``)."""
    if not use:
        return fit()
    folder = cache_dir() / ("whitespace-" + choice.cache_key(key))
    got = choice.load(folder) if folder.exists() else None
    if got is not None:
        return got
    made = fit()
    if made is None:
        return None
    try:
        choice.save(made, folder)
        _prune(folder.parent)
    except OSError:
        pass  # a read-only or full cache folder only costs the next run a fit
    return made


def _prune(root: Path) -> None:
    fits = sorted((p for p in root.glob("whitespace-*") if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True)
    import shutil

    for old in fits[KEEP:]:
        shutil.rmtree(old, ignore_errors=True)
