"""Files in and out, safely and byte-for-byte reproducibly (numpy only): what every
stage and command writes and reads goes through here.

Every output goes through `atomic_output`: it is written to a temporary file
beside its final path and renamed into place only when complete, so an error
or a kill never leaves a truncated file where DVC expects an output.
`save_npz` writes zip entries with a fixed timestamp (numpy's `savez` stamps
the current time), so the same arrays always give the same bytes.
"""

from __future__ import annotations

import contextlib
import csv
import glob
import json
import os
import tempfile
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np

from stages.common.cli import UserError

FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path; move it to `path` only if the block succeeds. (Another
    writer's temporary of `path` can only be left by a kill, as one stage writes each
    output: it goes.)"""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    for killed in final.parent.glob(f".{glob.escape(final.name)}.*.tmp"):
        killed.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; outputs are ordinary files
        os.replace(tmp, final)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save_npz(path: str | os.PathLike, arrays: Mapping[str, np.ndarray]) -> None:
    """Write arrays as an uncompressed `.npz`, deterministically and atomically."""
    with atomic_output(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as zf:
        for name in sorted(arrays):
            info = zipfile.ZipInfo(f"{name}.npy", date_time=FIXED_ZIP_TIME)
            with zf.open(info, "w", force_zip64=True) as entry:
                np.lib.format.write_array(entry, np.asarray(arrays[name]), allow_pickle=False)


def load_npz(path: str | os.PathLike, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Read `keys` from an `.npz`, refusing pickled objects and broken files."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} does not exist: run the stage that makes it (dvc repro)")
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [key for key in keys if key not in npz.files]
            if missing:
                raise UserError(
                    f"{path} lacks array(s) {', '.join(missing)} (it has: "
                    f"{', '.join(npz.files) or 'nothing'}); it is not the expected layout"
                )
            return {key: npz[key] for key in keys}
    except UserError:
        raise
    except ValueError as error:
        if "allow_pickle" in str(error):
            raise UserError(
                f"{path} holds pickled Python objects, which are never loaded "
                "(they can run code); use a plain numeric .npz"
            ) from None
        raise UserError(f"{path} is not a readable .npz file: {error}") from None
    except (OSError, zipfile.BadZipFile, EOFError) as error:
        raise UserError(f"{path} is not a readable .npz file ({error}); "
                        "it may be truncated or corrupt") from None


def write_json(path: str | os.PathLike, data: object) -> None:
    """Write JSON with sorted keys and a trailing newline, atomically."""
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def read_json(path: str | os.PathLike) -> dict:
    """Read a JSON file another stage wrote, with a clear message if it is missing."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} does not exist: run `dvc repro` to make it")
    return json.loads(path.read_text())


def read_history(path: str | os.PathLike) -> list[dict]:
    """Rows of a per-epoch history CSV (Keras CSVLogger: epochs count from 0).

    Every value is finite: `loops.StopOnDivergence` stops training otherwise.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} does not exist: run `dvc repro` to make it")
    with path.open(newline="") as handle:
        rows = [{key: float(value) for key, value in row.items()} for row in csv.DictReader(handle)]
    for row in rows:
        row["epoch"] = int(row["epoch"])
    return rows


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write a text file atomically."""
    with atomic_output(path) as tmp:
        tmp.write_text(text)


def write_csv(path: str | os.PathLike, columns: tuple[str, ...], rows) -> None:
    """A table of the named columns of each row (a mapping), atomically."""
    with atomic_output(path) as tmp, tmp.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
