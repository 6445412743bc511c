"""What one delivery attempt did, as data the outbox can act on (no exceptions for outcomes).

Every :meth:`send` returns a :class:`SendResult`; the caller decides with ``result.status``:

================  ===================================================================
``SENT``          every recipient accepted; mark the row sent
``PARTIAL``       sent to some recipients; ``result.refused`` were refused for good at RCPT
                  (5xx: mark those contacts bounced), ``result.deferred`` were refused for
                  now (4xx) and may be sent again to them alone
``TRANSIENT``     nothing sent; retry later (4xx at MAIL/RCPT/DATA, connection refused or
                  reset, timeout). ``result.counts_as_connection_error`` tells the caller
                  which ones to count towards its "repeated connection errors" breaker
``PERMANENT``     this message will never go (every recipient refused with 5xx, message
                  too big, content refused at DATA); ``result.refused`` lists the bounces
``CIRCUIT``       stop all delivery and alert a person: login refused, policy block,
                  quota/rate limit, TLS not possible (untrusted certificate, no STARTTLS),
                  the sender address refused, the local outbox not writable
================  ===================================================================

``result.maybe_delivered`` is True when the connection broke after the message body was
handed over (the server may have accepted it): a retry can then duplicate it, which the
Message-ID derived from the idempotency key lets a recipient's client collapse.

:func:`classify_reply` is pure: (stage, code, text) -> (status, reason); the tests of the
transports check it against a real server, and its table is small enough to read here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum


class DeliveryStatus(StrEnum):
    SENT = "sent"
    PARTIAL = "partial"
    TRANSIENT = "transient"
    PERMANENT = "permanent"
    CIRCUIT = "circuit"


class FailureReason(StrEnum):
    RECIPIENTS_REFUSED = "recipients_refused"  # RCPT refusals (some or all recipients)
    MESSAGE_REFUSED = "message_refused"  # 5xx at DATA, or too big: this message never goes
    TEMPORARY = "temporary"  # a 4xx reply: the server asks us to come back later
    CONNECTION = "connection"  # refused, reset, dropped, 421 "closing channel"
    TIMEOUT = "timeout"  # the server did not answer in smtp.timeout_seconds
    AUTH = "auth"  # login refused / not possible
    POLICY = "policy"  # blocked by policy (554, 5.7.x), sender refused
    RATE_LIMIT = "rate_limit"  # quota or rate limit of our account
    TLS = "tls"  # certificate not trusted, STARTTLS missing, handshake failed
    LOCAL_IO = "local_io"  # the local outbox / Maildir could not be written


class Stage(StrEnum):
    CONNECT = "connect"
    TLS = "tls"
    AUTH = "auth"
    MAIL = "mail"
    RCPT = "rcpt"
    DATA = "data"
    WRITE = "write"  # local transport


#: statuses after which the message (or part of it) reached the server
DELIVERED = frozenset({DeliveryStatus.SENT, DeliveryStatus.PARTIAL})

_ENHANCED = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})\b")
_RATE_WORDS = re.compile(r"\b(rate|limit|limits|limited|quota|too many|throttl\w*)\b", re.I)
_RELAY_WORDS = re.compile(r"\brelay", re.I)
_AUTH_WORDS = re.compile(r"\bauth", re.I)


def enhanced_status(text: str) -> str | None:
    """``"5.7.1 Message refused"`` -> ``"5.7.1"`` (RFC 3463), None when the reply has none."""
    match = _ENHANCED.match(text)
    return ".".join(match.groups()) if match else None


def _is_rate_limit(stage: Stage, code: int, enhanced: str | None, text: str) -> bool:
    if code == 452 and enhanced == "4.5.3":
        return True  # "too many recipients / messages": our sending limit
    if enhanced is not None and enhanced.endswith((".3.4", ".2.2")):
        return False  # message too big / recipient's mailbox full: not our account's limit
    if not _RATE_WORDS.search(text):
        return False
    if stage is Stage.RCPT:
        return enhanced is not None and enhanced[2:4] == "7."
    return code == 421 or (enhanced is not None and enhanced[2:4] in {"7.", "4."}) or code in {
        450, 451, 452, 550, 554}


def classify_reply(stage: Stage, code: int, text: str) -> tuple[DeliveryStatus, FailureReason]:
    """Classify a refusal (a non-2xx reply) at ``stage``.

    =====================================================  ==================================
    reply                                                  classification
    =====================================================  ==================================
    AUTH 535/534/530/5xx                                   CIRCUIT auth (454: TRANSIENT)
    MAIL 530 / 5.7.0 "authentication required"             CIRCUIT auth
    452 4.5.3; 421/4xx/5xx with rate/limit/quota text      CIRCUIT rate_limit
    MAIL or DATA 554 or 5.7.x; RCPT 5.7.x "relay"          CIRCUIT policy
    MAIL other 5xx (sender refused)                        CIRCUIT policy
    552 / x.3.4 at MAIL or DATA, other 5xx at DATA         PERMANENT message_refused
    RCPT other 5xx                                         PERMANENT recipients_refused
    421 anywhere                                           TRANSIENT connection
    other 4xx                                              TRANSIENT temporary
    =====================================================  ==================================
    """
    enhanced = enhanced_status(text)
    permanent = code >= 500
    if stage is Stage.AUTH:
        if code == 454:
            return DeliveryStatus.TRANSIENT, FailureReason.TEMPORARY
        return DeliveryStatus.CIRCUIT, FailureReason.AUTH
    if stage is Stage.MAIL and (code == 530 or (enhanced == "5.7.0" and _AUTH_WORDS.search(text))):
        return DeliveryStatus.CIRCUIT, FailureReason.AUTH
    if _is_rate_limit(stage, code, enhanced, text):
        return DeliveryStatus.CIRCUIT, FailureReason.RATE_LIMIT
    policy = code == 554 or (enhanced is not None and enhanced.startswith("5.7."))
    if stage in {Stage.MAIL, Stage.DATA, Stage.CONNECT} and policy:
        return DeliveryStatus.CIRCUIT, FailureReason.POLICY
    if stage is Stage.RCPT and policy and _RELAY_WORDS.search(text):
        return DeliveryStatus.CIRCUIT, FailureReason.POLICY
    too_big = code == 552 or (enhanced is not None and enhanced[1:] == ".3.4")
    if permanent and stage in {Stage.MAIL, Stage.DATA} and too_big:
        return DeliveryStatus.PERMANENT, FailureReason.MESSAGE_REFUSED
    if permanent and stage is Stage.MAIL:
        return DeliveryStatus.CIRCUIT, FailureReason.POLICY
    if permanent and stage is Stage.RCPT:
        return DeliveryStatus.PERMANENT, FailureReason.RECIPIENTS_REFUSED
    if permanent:
        return DeliveryStatus.PERMANENT, FailureReason.MESSAGE_REFUSED
    if code == 421:
        return DeliveryStatus.TRANSIENT, FailureReason.CONNECTION
    return DeliveryStatus.TRANSIENT, FailureReason.TEMPORARY


@dataclass(frozen=True)
class RecipientOutcome:
    """What the server said to ``RCPT TO:<address>``."""

    address: str
    accepted: bool
    code: int | None = None
    enhanced_status: str | None = None
    reply: str = ""

    @property
    def permanent(self) -> bool:
        """Refused for good (5xx): the caller marks this contact bounced."""
        return not self.accepted and self.code is not None and self.code >= 500


@dataclass(frozen=True)
class SendResult:
    """The outcome of one :meth:`send`; ``detail`` is written for a person to act on."""

    status: DeliveryStatus
    detail: str
    reason: FailureReason | None = None
    stage: Stage | None = None
    code: int | None = None
    enhanced_status: str | None = None
    #: the server's own words (without the code), for the attempt record
    reply: str = ""
    recipients: tuple[RecipientOutcome, ...] = ()
    message_id: str | None = None
    maybe_delivered: bool = False
    #: True when the message went over a connection that had carried earlier messages
    reused_connection: bool = False
    seconds: float = 0.0
    #: local transport: the file written
    path: str | None = field(default=None, compare=False)

    @property
    def delivered(self) -> bool:
        return self.status in DELIVERED

    @property
    def opens_circuit(self) -> bool:
        """Pause all delivery and alert: every further message would fail the same way."""
        return self.status is DeliveryStatus.CIRCUIT

    @property
    def retry(self) -> bool:
        return self.status is DeliveryStatus.TRANSIENT

    @property
    def counts_as_connection_error(self) -> bool:
        """Count these in a row to open the breaker on "repeated connection errors"."""
        return self.reason in {FailureReason.CONNECTION, FailureReason.TIMEOUT}

    @property
    def accepted(self) -> tuple[str, ...]:
        return tuple(r.address for r in self.recipients if r.accepted)

    @property
    def refused(self) -> tuple[str, ...]:
        """Recipients refused for good at RCPT (5xx): mark those contacts bounced."""
        return tuple(r.address for r in self.recipients if r.permanent)

    @property
    def deferred(self) -> tuple[str, ...]:
        """Recipients refused for now at RCPT (4xx)."""
        return tuple(r.address for r in self.recipients if not r.accepted and not r.permanent)


def reply_summary(code: int | None, enhanced: str | None, text: str) -> str:
    """``(550 5.1.1 user unknown)``-style summary used inside ``detail`` messages."""
    words = " ".join(text.split())
    if enhanced and words.startswith(enhanced):
        words = words[len(enhanced):].strip()
    parts = [str(code) if code is not None else "", enhanced or "", words[:200]]
    return " ".join(p for p in parts if p)
