"""Archives: extracting a stranger's .zip with limits, and zipping a folder for export.

`safe_extract_zip` refuses an archive from its directory alone (too many entries, too large,
links, paths outside the folder, nested archives) before writing anything, counts the real
bytes while extracting (headers can lie), and on any failure leaves nothing behind.
`dataset_root` looks inside the one top folder a zip often wraps everything in.
"""

from __future__ import annotations

import shutil
import stat
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import DataError
from .limits import LOCAL, MAX_ZIP_BYTES, MAX_ZIP_FILES, Limits
from .safezip import ZIP_ERRORS, open_zip, zip_reason


@contextmanager
def _removed_on_failure(folder: Path, remove_folder: bool = False) -> Iterator[None]:
    """On any failure inside, remove what appeared in `folder` (the folder too, if it did not
    exist or `remove_folder`): a refused upload leaves nothing on disk."""
    existed = folder.is_dir() and not remove_folder
    before = set(folder.iterdir()) if existed else set()
    try:
        yield
    except BaseException:
        if not existed:
            shutil.rmtree(folder, ignore_errors=True)
        elif folder.is_dir():
            for p in set(folder.iterdir()) - before:
                if p.is_dir() and not p.is_symlink():
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    p.unlink(missing_ok=True)
        raise


def _check_zip_entries(
    name: str, infos: list[zipfile.ZipInfo], root: Path, max_files: int, max_bytes: int
) -> None:
    """Refuse an archive from its directory alone, before anything is written."""
    if len(infos) > max_files:
        raise DataError(f"{name}: {len(infos)} entries; the limit is {max_files}.")
    total = sum(i.file_size for i in infos)
    if total > max_bytes:
        raise DataError(
            f"{name}: {total / 2**20:.0f} MiB uncompressed; the limit is "
            f"{max_bytes / 2**20:.0f} MiB."
        )
    for info in infos:
        entry = info.filename
        if stat.S_ISLNK(info.external_attr >> 16):
            raise DataError(
                f"{name}: entry '{entry}' is a symbolic link; links are not allowed in archives."
            )
        target = (root / entry).resolve()
        if (
            entry.startswith(("/", "\\"))
            or ":" in entry.split("/")[0]
            or ".." in Path(entry).parts
            or (target != root and root not in target.parents)
        ):
            raise DataError(
                f"{name}: entry '{entry}' points outside the archive folder; refusing to extract."
            )
        if not info.is_dir() and Path(entry).suffix.lower() in {
            ".zip",
            ".tar",
            ".gz",
            ".tgz",
            ".7z",
            ".rar",
            ".bz2",
            ".xz",
        }:
            raise DataError(
                f"{name}: entry '{entry}' is a nested archive; unpack it and zip its "
                "contents instead."
            )


def safe_extract_zip(archive: str | Path, dest: str | Path, limits: Limits | None = None) -> Path:
    """Extract a zip with limits: no paths outside dest, no links, no nested archives,
    bounded file count and total size (the smaller of MAX_ZIP_* and `limits`). On any failure
    nothing extracted is left behind in dest. Returns dest."""
    archive, dest = Path(archive), Path(dest)
    max_files = min(MAX_ZIP_FILES, (limits or LOCAL).max_zip_files)
    max_bytes = min(MAX_ZIP_BYTES, (limits or LOCAL).max_zip_bytes)
    with open_zip(archive, DataError) as zf, _removed_on_failure(dest):
        infos = zf.infolist()
        root = dest.resolve()
        _check_zip_entries(archive.name, infos, root, max_files, max_bytes)
        written = 0
        for info in infos:
            target = root / info.filename
            try:
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "wb") as out:
                    # count real bytes: the header's file_size can lie
                    for chunk in iter(lambda: src.read(1 << 20), b""):
                        written += len(chunk)
                        if written > max_bytes:
                            raise DataError(
                                f"{archive.name}: more than "
                                f"{max_bytes / 2**20:.0f} MiB uncompressed; "
                                "refusing (zip bomb?)."
                            )
                        out.write(chunk)
            # corrupt data (bad CRC, zlib), encryption, unknown compression, a name that is
            # both a file and a folder, a name the file system refuses
            except ZIP_ERRORS as exc:
                raise DataError(
                    f"{archive.name}: entry '{info.filename}' cannot be extracted "
                    f"({zip_reason(exc)}). Re-create the archive with a standard zip "
                    "tool, without a password."
                ) from None
    return dest


def dataset_root(folder: Path) -> Path:
    """A zip often wraps everything in one top folder (and macOS adds __MACOSX): look inside."""
    entries = [p for p in folder.iterdir() if not p.name.startswith((".", "__MACOSX"))]
    if len(entries) == 1 and entries[0].is_dir() and not any(folder.glob("*.jsonl")):
        inner = entries[0]
        if any(inner.glob("*.jsonl")) or any(p.is_dir() for p in inner.iterdir()):
            return inner
    return folder


def zip_folder(folder: str | Path, archive: str | Path) -> Path:
    """Zip a folder's files (relative names), for exports."""
    folder, archive = Path(folder), Path(archive)
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                zf.write(p, p.relative_to(folder).as_posix())
    return archive


__all__ = ["safe_extract_zip", "dataset_root", "zip_folder"]
