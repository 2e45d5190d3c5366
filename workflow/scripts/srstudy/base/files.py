"""Atomic writes: every output appears whole or not at all, and a full disk is an
error that names the file and leaves finished outputs alone."""

import csv
import errno
import os
import re
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

_UMASK = os.umask(0)
os.umask(_UMASK)


# Write errors that mean "no room": a full disk, a full quota, or a file size limit.
NO_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


class DiskFullError(OSError):
    """An output could not be written for lack of space; the message names it."""

    def __str__(self) -> str:
        return self.strerror


def _errno(error: BaseException) -> int | None:
    if isinstance(error, OSError):
        return error.errno
    # HDF5 (h5py) reports a failed write as a RuntimeError with the errno in its text.
    found = re.search(r"\berrno = (\d+)", str(error))
    return int(found.group(1)) if found else None


def _no_space(error: BaseException, final: Path) -> DiskFullError | None:
    """A :class:`DiskFullError` naming ``final`` (the outermost output being written) if
    ``error`` is a lack of space, else None."""
    if (number := _errno(error)) not in NO_SPACE:
        return None
    return DiskFullError(
        number,
        f"could not write '{final}': {os.strerror(number)} (disk full, quota or file size limit). "
        "Free some space and run the workflow again: finished outputs are kept, this one is redone",
    )


def check_free_space(final: str | os.PathLike, needed: int) -> None:
    """Refuse to start writing ``final`` when its disk has less than ``needed`` bytes free
    (for writers such as HDF5 that fail badly when the disk fills mid-write)."""
    folder = Path(final).parent
    folder.mkdir(parents=True, exist_ok=True)
    if (free := shutil.disk_usage(folder).free) < needed:
        raise DiskFullError(
            errno.ENOSPC,
            f"could not write '{final}': it needs up to {needed / 1e6:.0f} MB and the disk has "
            f"{free / 1e6:.0f} MB free. Free some space and run the workflow again: finished outputs are kept",
        )


def _remove_leftovers(final: Path, suffix: str) -> None:
    """Remove what a killed writer of ``final`` left: its temporary siblings (a rerun
    writes ``final`` anew, and nothing else writes it meanwhile)."""
    prefix = f".{final.name}."
    with os.scandir(final.parent) as entries:
        for entry in entries:
            rest = entry.name[len(prefix) :]
            if not (entry.name.startswith(prefix) and len(rest) == 8 + len(suffix) and rest.endswith(suffix)):
                continue
            if entry.is_dir(follow_symlinks=False):
                _rmtree(Path(entry.path))
            else:
                Path(entry.path).unlink(missing_ok=True)


def atomic_path(final: str | os.PathLike, suffix: str = "") -> Path:
    """A fresh temporary path beside ``final``: write there, then ``os.replace``."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    suffix = suffix or final.suffix
    _remove_leftovers(final, suffix)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=suffix, dir=final.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; outputs get the usual mode
    return Path(tmp)


@contextmanager
def atomic_file(final: str | os.PathLike, suffix: str = ""):
    """Yield a temporary path beside ``final`` to write; it replaces ``final`` when the
    block succeeds and is removed when it fails, so readers never see a partial file.
    A write that fails for lack of space raises :class:`DiskFullError` naming ``final``."""
    tmp = atomic_path(final, suffix)
    try:
        yield tmp
        os.replace(tmp, final)
    except (OSError, RuntimeError) as error:
        if (no_space := _no_space(error, Path(final))) is None:
            raise
        raise no_space from error
    finally:
        tmp.unlink(missing_ok=True)


class atomic_directory:
    """Context manager that fills a temporary sibling folder and renames it to
    ``final`` only when the block succeeds, so a failed job leaves no partial output."""

    def __init__(self, final: str | os.PathLike):
        self.final = Path(final)

    def __enter__(self) -> Path:
        self.final.parent.mkdir(parents=True, exist_ok=True)
        _remove_leftovers(self.final, "")
        self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.final.name}.", dir=self.final.parent))
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            _rmtree(self.tmp)
            if no_space := _no_space(exc, self.final):
                raise no_space from exc
            return
        self.tmp.chmod(0o777 & ~_UMASK)
        if self.final.exists():
            _rmtree(self.final)
        os.replace(self.tmp, self.final)


def _rmtree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def write_csv(path: str | os.PathLike, table) -> None:
    """A table, atomically: a DataFrame, or rows as dicts (their keys in first-seen order
    are the columns)."""
    with atomic_file(path, ".csv") as tmp:
        if hasattr(table, "to_csv"):
            table.to_csv(tmp, index=False)
            return
        columns = list(dict.fromkeys(key for row in table for key in row))
        with open(tmp, "w", newline="") as handle:
            writer = csv.DictWriter(handle, columns)
            writer.writeheader()
            writer.writerows(table)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_file(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
