"""Content-addressed files in the data directory: each attachment stored once, by sha256.

The blank template attached to 5,000 requests is one file; every workbook a supplier sends
is kept exactly as received (including those that cannot be read), named by its hash
under ``<data>/attachments/ab/abcdef….bin``. Writes are atomic (temporary file, then
rename), so a crash never leaves half a file under a valid name.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path


class BlobMissing(LookupError):
    """No stored file has this hash (the data directory was changed by hand?)."""


def blob_path(root: Path, sha256: str) -> Path:
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ValueError(f"not a sha256 hex digest: {sha256!r}")
    return root / sha256[:2] / f"{sha256}.bin"


def put_blob(root: Path, data: bytes, sha256: str | None = None) -> str:
    """Store ``data`` (once) and return its sha256 (pass it when known: no re-hashing when
    the file is already stored, as for the blank template attached to every request)."""
    digest = sha256 or hashlib.sha256(data).hexdigest()
    target = blob_path(root, digest)
    if target.exists():
        return digest
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise ValueError("the data does not have the sha256 given")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        Path(temporary).replace(target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return digest


def get_blob(root: Path, sha256: str) -> bytes:
    path = blob_path(root, sha256)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise BlobMissing(f"the stored file {sha256[:12]}… is missing from {root}") from None
    if hashlib.sha256(data).hexdigest() != sha256:
        raise BlobMissing(f"the stored file {sha256[:12]}… in {root} is damaged")
    return data
