"""The vocabulary shared by every layer: states and roles as string enums.

They are stored as their string value, so a database row reads the same as the code.
"""

from __future__ import annotations

from enum import StrEnum


class ContactRole(StrEnum):
    PRIMARY = "primary"
    ESCALATION = "escalation"
    SENIOR_OFFICER = "senior_officer"


class ContactStatus(StrEnum):
    ACTIVE = "active"
    BOUNCED = "bounced"
    INACTIVE = "inactive"  # no longer in the imported supplier file


class CampaignState(StrEnum):
    DRAFT = "draft"
    RUNNING = "running"
    PAUSED = "paused"
    CLOSED = "closed"


class TemplateFamily(StrEnum):
    CMRT = "CMRT"
    EMRT = "EMRT"


class RequestState(StrEnum):
    OPEN = "open"  # the ladder runs
    PAUSED = "paused"  # a person paused it (optionally until a date)
    ACCEPTED = "accepted"  # an accepted submission ended the ladder
    EXEMPT = "exempt"  # a person exempted the supplier, with a reason
    HANDED_OVER = "handed_over"  # the ladder ended; procurement owns it
    CLOSED = "closed"  # the campaign closed while the request was still open


#: Request states in which the survey still wants an answer from the supplier.
ACTIVE_REQUEST_STATES = frozenset({RequestState.OPEN, RequestState.PAUSED})
