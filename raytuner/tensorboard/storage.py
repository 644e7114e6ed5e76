"""Writing the aggregated logs where they live: a local folder, or any pyarrow filesystem
Ray's storage supports (s3://, gs://, a custom ``storage_filesystem``; locations are resolved
by :func:`raytuner.files.resolve_location`).

TensorBoard's event files are append-only, so a remote copy is kept by writing locally and
uploading every file whose size changed since the last upload.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pyarrow.fs as pafs


def is_local(fs: pafs.FileSystem) -> bool:
    """True when paths of ``fs`` are paths of this machine (written in place, no upload)."""
    return isinstance(fs, pafs.LocalFileSystem)


def local_staging_dir() -> Path:
    """A fresh local folder to write into before uploading."""
    return Path(tempfile.mkdtemp(prefix="raytuner-tensorboard-"))


def download(fs: pafs.FileSystem, path: str, local: Path) -> None:
    """Copy the remote folder ``path`` (if it exists) into ``local``."""
    if fs.get_file_info(path).type != pafs.FileType.Directory:
        return
    local.mkdir(parents=True, exist_ok=True)
    for info in fs.get_file_info(pafs.FileSelector(path, recursive=True)):
        if info.type != pafs.FileType.File:
            continue
        target = local / Path(info.path).relative_to(path)
        if target.exists() and target.stat().st_size == info.size:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        with fs.open_input_stream(info.path) as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst)


class Uploader:
    """Mirrors a local folder to ``fs:path``, uploading only files that grew or are new."""

    def __init__(self, local: Path, fs: pafs.FileSystem, path: str):
        self.local, self.fs, self.path = Path(local), fs, path
        self._sizes: dict[str, int] = {}
        for file in self._files():  # files downloaded at start are already there
            self._sizes[str(file)] = file.stat().st_size

    def _files(self) -> list[Path]:
        return [p for p in self.local.rglob("*") if p.is_file()]

    def forget(self) -> None:
        """Treat every local file as new: the next sync uploads all of them."""
        self._sizes.clear()

    def sync(self) -> int:
        """Upload what changed; returns how many files were uploaded."""
        uploaded = 0
        for file in self._files():
            size = file.stat().st_size
            if self._sizes.get(str(file)) == size:
                continue
            target = f"{self.path}/{file.relative_to(self.local).as_posix()}"
            self.fs.create_dir(target.rsplit("/", 1)[0], recursive=True)
            with open(file, "rb") as src, self.fs.open_output_stream(target) as dst:
                shutil.copyfileobj(src, dst)
            self._sizes[str(file)] = size
            uploaded += 1
        return uploaded


def replace_remote(fs: pafs.FileSystem, path: str, local: Path) -> None:
    """Make ``fs:path`` an exact copy of ``local`` (for a rebuild)."""
    if fs.get_file_info(path).type == pafs.FileType.Directory:
        fs.delete_dir(path)
    uploader = Uploader(local, fs, path)
    uploader.forget()
    uploader.sync()


def replace_local(target: Path, built: Path) -> None:
    """Swap the folder ``built`` in for ``target`` (old contents removed)."""
    old = target.with_name(target.name + ".old")
    if old.exists():
        shutil.rmtree(old)
    if target.exists():
        os.replace(target, old)
    os.replace(built, target)
    if old.exists():
        shutil.rmtree(old)
