"""Several data folders read as one: ``--data-dir`` given more than once.

National files, trusts' extracts and supplementary publications often live in different folders. Rather than
teach every reader and cache about lists, the folders are joined into one folder of symbolic links (one
sub-folder per input folder, named by its position and name, files linked one by one), so everything
downstream reads a single folder exactly as before and reports each file under its own name.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path


def combine_folders(folders: Sequence[Path | str], dest: Path | str) -> Path:
    """Link every file under each of ``folders`` into ``dest/<k>-<folder name>/`` (``dest`` is emptied
    first) and return ``dest``. A folder that does not exist raises :class:`FileNotFoundError` naming it."""
    dest = Path(dest)
    paths = [Path(f).resolve() for f in folders]
    for p in paths:
        if not p.is_dir():
            raise FileNotFoundError(f"data directory {p} does not exist or is not a folder")
    if dest.is_symlink() or dest.is_file():
        dest.unlink()
    elif dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for k, folder in enumerate(paths, start=1):
        root = dest / f"{k}-{folder.name}"
        for src in sorted(folder.rglob("*")):
            if src.is_file():
                link = root / src.relative_to(folder)
                link.parent.mkdir(parents=True, exist_ok=True)
                os.symlink(src, link)
        root.mkdir(exist_ok=True)
    return dest


def one_folder(data_dirs: str | Path | Sequence[str | Path] | None, dest: Path | str) -> Path | None:
    """The single folder to read: None for none given, the folder itself for one, else the combined folder."""
    if data_dirs is None or isinstance(data_dirs, str | Path):
        return Path(data_dirs) if data_dirs else None
    dirs = [d for d in data_dirs if d]
    if not dirs:
        return None
    if len(dirs) == 1:
        return Path(dirs[0])
    return combine_folders(dirs, dest)
