"""The tables. Plain rows, no relationships or lazy loading: queries are explicit.

Conventions every table follows (see docs/conventions.md):
* every instant is a ``UTCDateTime`` set from the injected clock, never a database ``now()``;
* states and roles are ``outreach.core.enums`` values stored as short strings;
* lists (domains, tags, addresses, findings) are JSON columns;
* ``events`` is append-only (the audit trail): the ORM refuses to update or delete a row and
  the migration adds database triggers that refuse it too.
"""

# SQLModel resolves annotations at class creation: no `from __future__ import annotations`.

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

from outreach.core.enums import (
    CampaignState,
    ContactRole,
    ContactStatus,
    RequestState,
    TemplateFamily,
)
from outreach.db.types import JSONColumn, StrEnumType, UTCDateTime

# Named constraints, so Alembic's batch mode on SQLite can find and alter them.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata: MetaData = SQLModel.metadata


def _when(*, nullable: bool = False, index: bool = False) -> Any:
    return Field(sa_type=UTCDateTime, nullable=nullable, index=index)


def _state(enum: type[StrEnum], length: int = 20) -> Any:
    return Field(sa_type=StrEnumType(enum, length), nullable=False)


def _json_list() -> Any:
    return Field(default_factory=list, sa_type=JSONColumn, nullable=False)


def _fk(target: str, *, nullable: bool = False, index: bool = True) -> Any:
    return Field(
        sa_column=Column(Integer, ForeignKey(target), nullable=nullable, index=index)
    )


class Supplier(SQLModel, table=True):
    __tablename__ = "suppliers"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(sa_type=String(64), unique=True, nullable=False)
    name: str = Field(sa_type=String(300))
    country: str | None = Field(default=None, sa_type=String(2))
    time_zone: str | None = Field(default=None, sa_type=String(64))
    language: str = Field(default="en", sa_type=String(16))
    email_domains: list[str] = _json_list()
    buyer: str | None = Field(default=None, sa_type=String(300))
    scope_tags: list[str] = _json_list()
    active: bool = Field(default=True, nullable=False)
    created_at: datetime = _when()
    updated_at: datetime = _when()
    deactivated_at: datetime | None = _when(nullable=True)


class Contact(SQLModel, table=True):
    __tablename__ = "contacts"
    __table_args__ = (UniqueConstraint("supplier_id", "role", "email"),)

    id: int | None = Field(default=None, primary_key=True)
    supplier_id: int = _fk("suppliers.id")
    role: ContactRole = _state(ContactRole)
    name: str | None = Field(default=None, sa_type=String(300))
    email: str = Field(sa_type=String(320), index=True)
    status: ContactStatus = _state(ContactStatus)
    bounced_at: datetime | None = _when(nullable=True)
    created_at: datetime = _when()
    updated_at: datetime = _when()


class Campaign(SQLModel, table=True):
    __tablename__ = "campaigns"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_type=String(100), unique=True, nullable=False)
    template_family: TemplateFamily = _state(TemplateFamily, 8)
    reporting_year: int
    min_version: str = Field(sa_type=String(16))
    due_date: date
    #: suppliers in scope: every active supplier when empty, else those with any of the tags
    scope_tags: list[str] = _json_list()
    #: the escalation ladder, frozen when the campaign starts (``Ladder.model_dump``)
    ladder: dict[str, Any] | None = Field(default=None, sa_type=JSONColumn)
    state: CampaignState = _state(CampaignState)
    created_at: datetime = _when()
    started_at: datetime | None = _when(nullable=True)
    paused_at: datetime | None = _when(nullable=True)
    closed_at: datetime | None = _when(nullable=True)


class Request(SQLModel, table=True):
    """One supplier asked in one campaign: the unit the ladder escalates."""

    __tablename__ = "requests"
    __table_args__ = (UniqueConstraint("campaign_id", "supplier_id"),)

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = _fk("campaigns.id")
    supplier_id: int = _fk("suppliers.id")
    state: RequestState = _state(RequestState)
    #: the ladder stage last sent (None: nothing sent yet) and how often it was sent
    stage: str | None = Field(default=None, sa_type=String(40))
    stage_repeat: int = Field(default=0, nullable=False)
    stage_sent_at: datetime | None = _when(nullable=True)
    #: this supplier's own due date (extensions and late joiners move it, not the campaign's)
    due_date: date
    #: when the scheduler must look at this request again (None: nothing to do, e.g. exempt)
    next_action_at: datetime | None = _when(nullable=True, index=True)
    paused_until: datetime | None = _when(nullable=True)
    #: the stage that waits for ``outreach approve`` (None: nothing waits)
    awaiting_approval: str | None = Field(default=None, sa_type=String(40))
    #: the latest rejected submission: the ladder waits a grace period after it
    last_rejected_at: datetime | None = _when(nullable=True)
    reply_token: str = Field(sa_type=String(32), unique=True, nullable=False)
    joined_late: bool = Field(default=False, nullable=False)
    exempt_reason: str | None = Field(default=None, sa_type=String(1000))
    accepted_at: datetime | None = _when(nullable=True)
    #: the first reply from the supplier that counts as a response (not an auto-reply)
    responded_at: datetime | None = _when(nullable=True)
    created_at: datetime = _when()
    updated_at: datetime = _when()


class OutboundMessage(SQLModel, table=True):
    """An e-mail we decided to send; delivery claims and sends it (the outbox)."""

    __tablename__ = "outbound_messages"

    id: int | None = Field(default=None, primary_key=True)
    request_id: int | None = _fk("requests.id", nullable=True)
    kind: str = Field(sa_type=String(40))
    stage: str | None = Field(default=None, sa_type=String(40))
    repeat: int = Field(default=0, nullable=False)
    #: (request, stage, repeat) or another key per kind: one decided send, ever
    idempotency_key: str = Field(sa_type=String(200), unique=True, nullable=False)
    message_id: str = Field(sa_type=String(250), unique=True, nullable=False)
    from_address: str = Field(sa_type=String(320))
    #: where replies go (the compliance mailbox with the request token as a plus-address)
    reply_to: str | None = Field(default=None, sa_type=String(320))
    #: the Message-ID this one threads under (the original request); None for that request
    in_reply_to: str | None = Field(default=None, sa_type=String(250))
    to_addresses: list[str] = _json_list()
    cc_addresses: list[str] = _json_list()
    subject: str = Field(sa_type=String(998))
    body_text: str = Field(sa_type=Text)
    body_html: str | None = Field(default=None, sa_type=Text)
    attachment_sha256: str | None = Field(default=None, sa_type=String(64))
    attachment_name: str | None = Field(default=None, sa_type=String(255))
    template_hash: str | None = Field(default=None, sa_type=String(64))
    #: a message composed whole (the digest, with its inline chart): delivery sends these
    #: stored bytes (``services.blobs``) instead of composing from the fields above
    raw_sha256: str | None = Field(default=None, sa_type=String(64))
    status: str = Field(sa_type=String(20), nullable=False)
    priority: int = Field(default=100, nullable=False)
    attempts: int = Field(default=0, nullable=False)
    next_attempt_at: datetime | None = _when(nullable=True, index=True)
    lease_until: datetime | None = _when(nullable=True)
    #: which delivery worker holds the lease (host:pid:thread), for diagnosis
    lease_owner: str | None = Field(default=None, sa_type=String(120))
    last_error: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = _when()
    sent_at: datetime | None = _when(nullable=True)


class DeliveryAttempt(SQLModel, table=True):
    """One try at handing an outbound message to the mail server, whatever came of it."""

    __tablename__ = "delivery_attempts"

    id: int | None = Field(default=None, primary_key=True)
    outbound_id: int = _fk("outbound_messages.id")
    attempt: int = Field(nullable=False)
    started_at: datetime = _when()
    finished_at: datetime | None = _when(nullable=True)
    #: sent · partial (some recipients refused) · transient · permanent · circuit
    outcome: str = Field(sa_type=String(20), nullable=False)
    smtp_code: int | None = None
    detail: str | None = Field(default=None, sa_type=Text)


class RecipientSend(SQLModel, table=True):
    """Each address a message went to, when: the per-contact gap and rolling cap read it."""

    __tablename__ = "recipient_sends"
    __table_args__ = (Index("ix_recipient_sends_address_sent_at", "address", "sent_at"),)

    id: int | None = Field(default=None, primary_key=True)
    #: lower-cased e-mail address
    address: str = Field(sa_type=String(320), nullable=False)
    outbound_id: int = _fk("outbound_messages.id")
    sent_at: datetime = _when()


class Approval(SQLModel, table=True):
    """A person's go-ahead for a stage that waits for approval (senior notice, hand-over)."""

    __tablename__ = "approvals"
    __table_args__ = (UniqueConstraint("request_id", "stage"),)

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = _fk("requests.id")
    stage: str = Field(sa_type=String(40), nullable=False)
    actor: str = Field(sa_type=String(200), nullable=False)
    reason: str | None = Field(default=None, sa_type=Text)
    approved_at: datetime = _when()


class DeliveryState(SQLModel, table=True):
    """Whether delivery runs: one row. The circuit breaker and ``outreach delivery pause``
    open it; only ``outreach delivery resume`` closes it again."""

    __tablename__ = "delivery_state"

    id: int = Field(default=1, primary_key=True)
    paused: bool = Field(default=False, nullable=False)
    reason: str | None = Field(default=None, sa_type=Text)
    paused_by: str | None = Field(default=None, sa_type=String(200))
    paused_at: datetime | None = _when(nullable=True)
    #: connection failures in a row (reset by any success); too many open the circuit
    connection_failures: int = Field(default=0, nullable=False)
    #: one delivery pass at a time across processes, so the account limits hold exactly
    lease_owner: str | None = Field(default=None, sa_type=String(120))
    lease_until: datetime | None = _when(nullable=True)
    updated_at: datetime = _when()


class Digest(SQLModel, table=True):
    """One status digest of one campaign for one period ("2027-W05", "2027-03-14"): its due
    time lives here, and (campaign, period) is unique, so however many services run it is
    sent once. ``figures`` keeps what it reported, for the next one's "since last time"."""

    __tablename__ = "digests"
    __table_args__ = (UniqueConstraint("campaign_id", "period"),)

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = _fk("campaigns.id")
    period: str = Field(sa_type=String(20), nullable=False)
    due_at: datetime = _when(index=True)
    #: due · sent · skipped
    status: str = Field(default="due", sa_type=String(12), nullable=False)
    outbound_id: int | None = _fk("outbound_messages.id", nullable=True, index=False)
    figures: dict[str, Any] = Field(default_factory=dict, sa_type=JSONColumn, nullable=False)
    created_at: datetime = _when()
    sent_at: datetime | None = _when(nullable=True)


class InboxFolder(SQLModel, table=True):
    """What intake knows of one polled folder in one UIDVALIDITY epoch.

    ``baseline_uid``: the highest UID present when the folder was first seen; older mail is
    ignored unless a backfill asks for it. After a UIDVALIDITY change a new row starts at 0,
    re-scanning from ``since`` (the installation date), and duplicates are recognised by
    the message's hash and Message-ID.
    """

    __tablename__ = "inbox_folders"
    __table_args__ = (UniqueConstraint("account", "folder", "uidvalidity"),)

    id: int | None = Field(default=None, primary_key=True)
    account: str = Field(sa_type=String(320))
    folder: str = Field(sa_type=String(255))
    uidvalidity: int = Field(sa_type=BigInteger)
    baseline_uid: int = Field(default=0, sa_type=BigInteger, nullable=False)
    #: re-scans of a new UIDVALIDITY epoch look at mail received on or after this date
    since: date | None = None
    first_seen_at: datetime = _when()
    last_polled_at: datetime | None = _when(nullable=True)


class InboundMessage(SQLModel, table=True):
    """A mail seen in a polled folder, recorded once by its IMAP identity.

    ``status``: received (recorded, not processed yet) · processed · attention (processed,
    a person should read it: a question, a link) · quarantined (not trusted: ``outreach inbox
    assign``) · unrelated (not ours: never touched) · duplicate (seen before under another
    identity) · failed (processing failed ``attempts`` times: ``outreach inbox retry``).
    """

    __tablename__ = "inbound_messages"
    __table_args__ = (UniqueConstraint("account", "folder", "uidvalidity", "uid"),)

    id: int | None = Field(default=None, primary_key=True)
    account: str = Field(sa_type=String(320))
    folder: str = Field(sa_type=String(255))
    uidvalidity: int = Field(sa_type=BigInteger)
    uid: int = Field(sa_type=BigInteger)
    message_id: str | None = Field(default=None, sa_type=String(998), index=True)
    from_address: str | None = Field(default=None, sa_type=String(320))
    subject: str | None = Field(default=None, sa_type=Text)
    sent_at: datetime | None = _when(nullable=True)
    received_at: datetime = _when()
    raw_sha256: str | None = Field(default=None, sa_type=String(64), index=True)
    #: the raw message is kept (content-addressed) for ours, quarantined and failed mail only
    raw_stored: bool = Field(default=False, nullable=False)
    size: int = Field(default=0, nullable=False)
    classification: str | None = Field(default=None, sa_type=String(40))
    status: str = Field(sa_type=String(20), nullable=False, index=True)
    request_id: int | None = _fk("requests.id", nullable=True)
    supplier_id: int | None = _fk("suppliers.id", nullable=True)
    #: token · thread · sender · domain · manual (how ``request_id`` was found)
    match_method: str | None = Field(default=None, sa_type=String(20))
    #: why it is quarantined or needs attention, in words a person can act on
    note: str | None = Field(default=None, sa_type=Text)
    #: the sha256 of each attachment (the re-scan duplicate check uses them)
    attachment_hashes: list[str] = _json_list()
    duplicate_of: int | None = _fk("inbound_messages.id", nullable=True, index=False)
    attempts: int = Field(default=0, nullable=False)
    error: str | None = Field(default=None, sa_type=Text)
    processed_at: datetime | None = _when(nullable=True)
    #: when the mail action (move or keyword) was applied on the server
    actioned_at: datetime | None = _when(nullable=True)
    #: a person dealt with it (``outreach inbox dismiss``): off the review list and digest
    reviewed_at: datetime | None = _when(nullable=True)
    reviewed_by: str | None = Field(default=None, sa_type=String(200))


class Submission(SQLModel, table=True):
    """A file received for a request (or not yet matched to one), and its verdict.

    Every attachment is kept, readable or not; ``duplicate_of`` names the earlier submission
    of the same request with identical bytes (not judged again), ``reused_from`` one of an
    earlier campaign (judged, and flagged).
    """

    __tablename__ = "submissions"

    id: int | None = Field(default=None, primary_key=True)
    request_id: int | None = _fk("requests.id", nullable=True)
    supplier_id: int | None = _fk("suppliers.id", nullable=True)
    inbound_message_id: int | None = _fk("inbound_messages.id", nullable=True)
    filename: str = Field(sa_type=String(255))
    #: None when the file was too large to keep
    sha256: str | None = Field(default=None, sa_type=String(64), index=True)
    size: int
    content_type: str | None = Field(default=None, sa_type=String(100))
    #: what the bytes are (xlsx, xls, pdf, zip, encrypted, ...)
    kind: str | None = Field(default=None, sa_type=String(20))
    #: email or manual (``outreach submission add``)
    source: str = Field(default="email", sa_type=String(20), nullable=False)
    received_at: datetime = _when()
    template: str | None = Field(default=None, sa_type=String(8))
    version: str | None = Field(default=None, sa_type=String(16))
    outcome: str | None = Field(default=None, sa_type=String(40))
    required_missing: int | None = None
    findings: list[dict[str, Any]] = _json_list()
    #: the declaration as read: company, metals, company answers, products
    declaration: dict[str, Any] | None = Field(default=None, sa_type=JSONColumn)
    duplicate_of: int | None = _fk("submissions.id", nullable=True, index=False)
    reused_from: int | None = _fk("submissions.id", nullable=True, index=False)
    validated_at: datetime | None = _when(nullable=True)


class SubmissionSmelter(SQLModel, table=True):
    """One smelter row of a judged submission, with what the reference lists said of it."""

    __tablename__ = "submission_smelters"

    id: int | None = Field(default=None, primary_key=True)
    submission_id: int = _fk("submissions.id")
    row: int
    metal: str | None = Field(default=None, sa_type=Text)
    name: str | None = Field(default=None, sa_type=Text)
    country: str | None = Field(default=None, sa_type=Text)
    cid: str | None = Field(default=None, sa_type=String(16), index=True)
    rmap_status: str | None = Field(default=None, sa_type=String(20))
    red_flags: list[str] = _json_list()


class ContactSuggestion(SQLModel, table=True):
    """A possible new contact seen in a reply or a CMRT, for a person to accept or dismiss."""

    __tablename__ = "contact_suggestions"
    __table_args__ = (UniqueConstraint("supplier_id", "role", "email"),)

    id: int | None = Field(default=None, primary_key=True)
    supplier_id: int = _fk("suppliers.id")
    role: ContactRole = _state(ContactRole)
    email: str = Field(sa_type=String(320))
    name: str | None = Field(default=None, sa_type=String(300))
    #: reply_sender · cmrt_contact · cmrt_authorizer
    source: str = Field(sa_type=String(20))
    inbound_message_id: int | None = _fk("inbound_messages.id", nullable=True, index=False)
    submission_id: int | None = _fk("submissions.id", nullable=True, index=False)
    #: pending · accepted · dismissed
    status: str = Field(default="pending", sa_type=String(12), nullable=False)
    created_at: datetime = _when()
    decided_at: datetime | None = _when(nullable=True)
    decided_by: str | None = Field(default=None, sa_type=String(200))


class Event(SQLModel, table=True):
    """The audit trail: who or what did what, when and why. Append-only."""

    __tablename__ = "events"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _when(index=True)
    #: "cli:<user>" for a person at the command line, "system:<component>" for the service
    actor: str = Field(sa_type=String(200))
    kind: str = Field(sa_type=String(60), index=True)
    campaign_id: int | None = _fk("campaigns.id", nullable=True)
    supplier_id: int | None = _fk("suppliers.id", nullable=True)
    request_id: int | None = _fk("requests.id", nullable=True)
    reason: str | None = Field(default=None, sa_type=Text)
    data: dict[str, Any] = Field(default_factory=dict, sa_type=JSONColumn, nullable=False)


# -- smelter reference, RMAP status and red-flag lists (outreach smelter import) ----------


class SmelterListKind(StrEnum):
    """What a smelter import brought in; each kind is replaced whole by its next import."""

    LOOKUP = "lookup"
    RMAP = "rmap"
    RED_FLAGS = "red-flags"


class SmelterImport(SQLModel, table=True):
    """One import of a smelter list: the file, the counts, and the changes it made.

    ``changes`` holds what the import changed against the rows it replaced: ``added`` (keys),
    ``removed`` and ``changed`` (keys with the old and new values), so the state before any
    import can be rebuilt from the state after it.
    """

    __tablename__ = "smelter_imports"

    id: int | None = Field(default=None, primary_key=True)
    kind: SmelterListKind = _state(SmelterListKind, 12)
    source: str = Field(sa_type=String(255))
    sha256: str = Field(sa_type=String(64))
    #: the template a look-up came from ("CMRT 6.5"), when identified
    template: str | None = Field(default=None, sa_type=String(32))
    rows: int = Field(default=0, nullable=False)
    added: int = Field(default=0, nullable=False)
    removed: int = Field(default=0, nullable=False)
    changed: int = Field(default=0, nullable=False)
    unchanged: int = Field(default=0, nullable=False)
    skipped_invalid: int = Field(default=0, nullable=False)
    changes: dict[str, Any] = Field(default_factory=dict, sa_type=JSONColumn, nullable=False)
    actor: str = Field(sa_type=String(200))
    imported_at: datetime = _when(index=True)


class SmelterReferenceRow(SQLModel, table=True):
    """One smelter of the imported RMI Smelter Reference List (a template's Look-up sheet)."""

    __tablename__ = "smelter_reference"

    id: int | None = Field(default=None, primary_key=True)
    cid: str = Field(sa_type=String(9), unique=True, nullable=False)
    metal: str = Field(sa_type=Text)
    standard_name: str = Field(sa_type=Text)
    country: str = Field(sa_type=Text)
    aliases: list[str] = _json_list()
    import_id: int = _fk("smelter_imports.id")
    source: str = Field(sa_type=String(255))
    imported_at: datetime = _when()


class SmelterStatusRow(SQLModel, table=True):
    """A smelter's RMAP status from the imported status file (``RmapStatus`` values)."""

    __tablename__ = "smelter_status"

    id: int | None = Field(default=None, primary_key=True)
    cid: str = Field(sa_type=String(9), unique=True, nullable=False)
    status: str = Field(sa_type=String(20))
    as_of: date
    import_id: int = _fk("smelter_imports.id")
    source: str = Field(sa_type=String(255))
    imported_at: datetime = _when()


class SmelterRedFlagRow(SQLModel, table=True):
    """An entry of an imported red-flag list: a smelter by CID and/or name (and country)."""

    __tablename__ = "smelter_red_flags"

    id: int | None = Field(default=None, primary_key=True)
    list_name: str = Field(sa_type=Text)
    cid: str | None = Field(default=None, sa_type=String(9), index=True)
    name: str | None = Field(default=None, sa_type=Text)
    country: str | None = Field(default=None, sa_type=Text)
    reason: str = Field(sa_type=Text)
    import_id: int = _fk("smelter_imports.id")
    source: str = Field(sa_type=String(255))
    imported_at: datetime = _when()
