"""Unpack a plain zip of attachments one level, with the guards ``opening`` applies to a
workbook's archive: count the entries before listing them, refuse declared sizes and
ratios that no real file has, read each member bounded by its declared size."""

from __future__ import annotations

import io
import struct
import zipfile
from dataclasses import dataclass

from outreach.intake.model import ParseLimits, Problem

_RATIO_FLOOR = 1024 * 1024
"""Members smaller than this cannot hurt whatever their ratio."""


@dataclass(frozen=True)
class Member:
    name: str
    content: bytes
    index: int


def unpack(
    data: bytes, archive_name: str, limits: ParseLimits
) -> tuple[list[Member], list[Problem]]:
    """The archive's files (directories, macOS resource forks and encrypted members skipped)."""
    problems: list[Problem] = []
    if data.count(b"PK\x01\x02") > limits.max_zip_entries:
        return [], [_refused(archive_name, f"it lists more than {limits.max_zip_entries} files")]
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, struct.error):
        return [], [Problem("zip_unreadable", f"the zip {archive_name!r} cannot be opened")]
    total = sum(info.file_size for info in infos)
    if total > limits.max_zip_uncompressed_bytes:
        return [], [_refused(archive_name, f"it would unpack to {total} bytes")]
    members: list[Member] = []
    for index, info in enumerate(infos, start=1):
        if info.is_dir() or _is_noise(info.filename):
            continue
        problem = _check(info, archive_name, limits)
        if problem is not None:
            problems.append(problem)
            continue
        content = _read(archive, info)
        if content is None:
            problems.append(Problem(
                "zip_member_unreadable", f"{info.filename!r} in {archive_name!r} is damaged"
            ))
            continue
        members.append(Member(info.filename, content, index))
    return members, problems


def _is_noise(name: str) -> bool:
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    return name.startswith("__MACOSX/") or base.startswith("._") or base in ("", ".DS_Store")


def _check(info: zipfile.ZipInfo, archive_name: str, limits: ParseLimits) -> Problem | None:
    if info.flag_bits & 0x1:
        return Problem(
            "zip_password_protected",
            f"{info.filename!r} in {archive_name!r} is protected with a password",
        )
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        return Problem(
            "zip_member_unreadable",
            f"{info.filename!r} in {archive_name!r} uses an unsupported compression method",
        )
    if info.file_size > limits.max_attachment_bytes:
        return Problem(
            "too_large",
            f"{info.filename!r} in {archive_name!r} is {info.file_size} bytes, more than "
            f"the {limits.max_attachment_bytes} accepted",
        )
    ratio = info.file_size / max(info.compress_size, 1)
    if info.file_size > _RATIO_FLOOR and ratio > limits.max_zip_ratio:
        return _refused(archive_name, f"{info.filename!r} is compressed {ratio:.0f} times")
    return None


def _read(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes | None:
    """The member's bytes, never more than declared + 1; None when damaged or lying."""
    try:
        with archive.open(info) as member:
            content = member.read(info.file_size + 1)
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, RuntimeError, struct.error):
        return None
    except Exception:  # zlib.error and friends: a damaged member, not our failure
        return None
    return content if len(content) == info.file_size else None


def _refused(archive_name: str, detail: str) -> Problem:
    return Problem("zip_refused", f"the zip {archive_name!r} was not unpacked: {detail}")
