"""After a new RMAP status, reference or red-flag list: what it changes for the CMRTs we
accepted. It only reports — no verdict changes and no e-mail to a supplier without a
person's action. The report is one ``smelters.revalidated`` event (the digest lists it).

Each smelter row of every accepted submission is compared, as it was judged, with the lists
now in effect:

* ``conformance_lost``: it was RMAP conformant and is no longer (active, not participating,
  or absent from the new status list);
* ``status_changed``: any other change of RMAP status;
* ``cid_unknown``: its CID is not in the reference list now in effect;
* ``red_flagged``: a red-flag list names it now and did not when it was judged.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlmodel import Session, col, select

from outreach.cmrt.reference import RmapStatus
from outreach.cmrt.validate import ACCEPTED_OUTCOMES
from outreach.core.clock import Clock
from outreach.db.audit import record_event
from outreach.db.models import Request, Submission, SubmissionSmelter, Supplier
from outreach.services.smelters import SmelterData, load_smelter_context

log = structlog.get_logger(__name__)

#: differences kept in the event in full (the counts cover all of them)
MAX_LISTED = 500
_BATCH = 2_000


@dataclass(frozen=True)
class Difference:
    kind: str
    supplier: str
    submission_id: int
    cid: str | None
    smelter: str | None
    metal: str | None
    before: str | None
    after: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "supplier": self.supplier,
                "submission_id": self.submission_id, "cid": self.cid,
                "smelter": self.smelter, "metal": self.metal, "before": self.before,
                "after": self.after}


@dataclass
class RevalidationReport:
    submissions: int = 0
    smelter_rows: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    differences: list[Difference] = field(default_factory=list)

    @property
    def affected_suppliers(self) -> list[str]:
        return sorted({d.supplier for d in self.differences})

    def as_dict(self) -> dict[str, Any]:
        return {"submissions": self.submissions, "smelter_rows": self.smelter_rows,
                "counts": dict(self.counts), "suppliers": self.affected_suppliers,
                "differences": [d.as_dict() for d in self.differences[:MAX_LISTED]]}


def revalidate_accepted(session: Session, clock: Clock, *, actor: str, reason: str,
                        import_id: int | None = None,
                        smelters: SmelterData | None = None) -> RevalidationReport:
    """Compare every accepted submission's smelters with the lists now stored (call after
    an import, in its transaction) and record what changed."""
    data = smelters or load_smelter_context(session)
    report = RevalidationReport()
    reference_known = data.reference_origin != "none"
    last_id = 0
    while True:
        rows = session.exec(
            select(SubmissionSmelter, Submission.id, Supplier.code)
            .join(Submission, col(Submission.id) == SubmissionSmelter.submission_id)
            .join(Request, col(Request.id) == Submission.request_id)
            .join(Supplier, col(Supplier.id) == Request.supplier_id)
            .where(col(Submission.outcome).in_(sorted(ACCEPTED_OUTCOMES)))
            .where(col(Submission.duplicate_of).is_(None))
            .where(col(SubmissionSmelter.id) > last_id)
            .order_by(col(SubmissionSmelter.id)).limit(_BATCH)).all()
        if not rows:
            break
        last_id = rows[-1][0].id or last_id
        submissions: set[int] = set()
        for smelter, submission_id, code in rows:
            submissions.add(submission_id)
            report.smelter_rows += 1
            for difference in _differences(smelter, submission_id, code, data,
                                           reference_known):
                report.counts[difference.kind] += 1
                report.differences.append(difference)
        report.submissions += len(submissions)
    record_event(session, clock, actor=actor, kind="smelters.revalidated", reason=reason,
                 import_id=import_id, **report.as_dict())
    log.info("smelters.revalidated", import_id=import_id, submissions=report.submissions,
             rows=report.smelter_rows, **dict(report.counts))
    return report


def _differences(row: SubmissionSmelter, submission_id: int, supplier: str,
                 data: SmelterData, reference_known: bool) -> list[Difference]:
    found: list[Difference] = []
    cid = (row.cid or "").strip().upper() or None

    def note(kind: str, before: str | None, after: str | None) -> None:
        found.append(Difference(kind, supplier, submission_id, cid, row.name, row.metal,
                                before, after))

    if cid is None:
        return found
    if reference_known and data.reference.get(cid) is None:
        note("cid_unknown", cid, None)
    now = data.status.get(cid)
    after = str(now.status) if now is not None else None
    before = row.rmap_status
    if before != after and (before is not None or after is not None):
        lost = before == str(RmapStatus.CONFORMANT)
        note("conformance_lost" if lost else "status_changed", before, after)
    flagged = {flag.list_name for flag in data.flags(cid)}
    new_flags = sorted(flagged - set(row.red_flags))
    if new_flags:
        note("red_flagged", ", ".join(row.red_flags) or None, ", ".join(new_flags))
    return found
