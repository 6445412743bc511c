"""The original workbooks of a campaign under names an auditor can read.

Every stored file a supplier sent for a request of the campaign (byte-identical duplicates
once: the first one) is copied from the content-addressed store to
``<dir>/originals/<SUPPLIER-CODE>_<submission-id>_<outcome>_<safe filename>`` — the bytes
exactly as received — and listed in ``<dir>/originals/index.csv`` with its sha256, so the
copy can be checked against the audit trail. Files too large to keep (no sha256) and files
missing from the store are listed with an empty path and a note.
"""

from __future__ import annotations

import csv
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from sqlmodel import Session, col, select

from outreach.db.models import Campaign, Request, Submission, Supplier
from outreach.reports.exports import _stream
from outreach.reports.safe_cells import csv_row
from outreach.services.blobs import blob_path

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
INDEX_HEADERS = ("Supplier code", "Supplier name", "Submission id", "Outcome",
                 "Received at (UTC)", "Original filename", "Size", "sha256", "Exported as",
                 "Note")


def safe_name(text: str, limit: int = 120) -> str:
    """``text`` reduced to letters, digits, ``.``, ``_`` and ``-`` (no path, no leading dot)."""
    cleaned = _UNSAFE.sub("_", text).strip("._") or "file"
    if len(cleaned) > limit:
        stem, dot, suffix = cleaned.rpartition(".")
        cleaned = (stem[: limit - len(suffix) - 1] + "." + suffix) if dot and len(suffix) < 10 \
            else cleaned[:limit]
    return cleaned


@dataclass(frozen=True)
class OriginalsReport:
    folder: Path
    index: Path
    copied: int
    missing: int


def export_originals(session: Session, campaign: Campaign, attachments_dir: Path,
                     out_dir: Path) -> OriginalsReport:
    assert campaign.id is not None
    folder = out_dir / "originals"
    folder.mkdir(parents=True, exist_ok=True)
    query = (select(Supplier.code, Supplier.name, Submission.id, Submission.outcome,
                    Submission.received_at, Submission.filename, Submission.size,
                    Submission.sha256)
             .join(Request, col(Request.id) == Submission.request_id)
             .join(Supplier, col(Supplier.id) == Request.supplier_id)
             .where(Request.campaign_id == campaign.id)
             .where(col(Submission.duplicate_of).is_(None))
             .order_by(Supplier.code, col(Submission.id)))
    copied = missing = 0
    index = folder / "index.csv"
    temporary = folder / ".index.csv.part"
    with temporary.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(INDEX_HEADERS)
        for code, name, sid, outcome, received, filename, size, sha256 in _stream(session,
                                                                                  query):
            target_name = (f"{safe_name(code, 40)}_{sid}_{safe_name(outcome or 'unjudged', 30)}"
                           f"_{safe_name(filename)}")
            note = None
            source = blob_path(attachments_dir, sha256) if sha256 else None
            if source is None:
                note, target_name = "too large to keep: not stored", ""
            elif not source.is_file():
                note, target_name = "missing from the attachment store", ""
            else:
                shutil.copyfile(source, folder / target_name)
            copied += bool(target_name)
            missing += not target_name
            writer.writerow(csv_row((code, name, sid, outcome, received, filename, size,
                                     sha256, target_name or None, note)))
    temporary.replace(index)
    return OriginalsReport(folder, index, copied, missing)
