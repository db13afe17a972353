"""One way to open a .zip someone else made, for datasets and classifiers alike.

Why: zipfile raises a zoo of exception types for damaged archives (BadZipFile, but also
NotImplementedError for a flipped version byte, zlib.error, EOFError, RuntimeError for a
password, struct.error, ValueError ...). Each reader caught its own subset, and one that missed
NotImplementedError let a one-byte change to a dataset crash with a traceback. Every reader now
opens and reads through here and gets the caller's error class (DataError / ClassifierError)
naming the archive by its file name only, never its server path. `read_member` reads one
member with a bound.
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import SavsError

# everything zipfile raises for an archive that is damaged, encrypted or uses an unknown method
ZIP_ERRORS: tuple[type[BaseException], ...] = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    RuntimeError,
    NotImplementedError,
    OSError,
    ValueError,
    struct.error,
    UnicodeDecodeError,
    OverflowError,
)


def zip_reason(exc: BaseException) -> str:
    """A short, path-free reason for a zip failure: 'BadZipFile: Bad CRC-32 ...'."""
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
    return f"{type(exc).__name__}: {reason}"


@contextmanager
def open_zip(
    path: str | Path,
    error: type[SavsError],
    name: str | None = None,
    what: str = "a valid .zip archive",
) -> Iterator[zipfile.ZipFile]:
    """Open an archive for reading; any zipfile failure, now or while reading inside the `with`
    block, becomes `error` naming the archive as `name` (default: its file name); a file that
    is no archive at all is "not {what}".

    Errors the block raises itself (a SavsError) pass through unchanged.
    """
    name = name or Path(path).name
    try:
        zf = zipfile.ZipFile(path)
    except ZIP_ERRORS as exc:
        raise error(f"{name}: not {what} ({zip_reason(exc)}).") from None
    with zf:
        try:
            yield zf
        except SavsError:
            raise
        except ZIP_ERRORS as exc:
            raise error(
                f"{name}: the archive cannot be read ({zip_reason(exc)}). Re-create it "
                "with a standard zip tool, without a password."
            ) from None


def read_member(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int, error: type[SavsError], what: str
) -> bytes:
    """An archive member's bytes, refused from its header when it claims more than `limit`, and
    again after `limit` + 1 real bytes (headers can lie): a small zip of a huge file costs at
    most `limit` bytes, however much it would inflate to. `what` says what it should hold."""
    archive = Path(zf.filename or "").name
    refusal = f"{archive}: {info.filename} is larger than {limit:,} bytes; {what} is smaller."
    if info.file_size > limit:
        raise error(refusal)
    with zf.open(info) as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise error(refusal)
    return data


__all__ = [
    "ZIP_ERRORS",
    "zip_reason",
    "open_zip",
    "read_member",
]
