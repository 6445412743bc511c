"""Simulated suppliers: each reads what arrives in its inboxes and answers as its profile says.

A supplier has a live primary address, a colleague address in the same domain and, for
profiles that bounce, an old primary address that no longer exists. Mail for any of them
(in-memory inboxes filled by the demo's SMTP server, or by the local outbox in
``simulate``) is read once per Message-ID; which of our e-mails it is (request, reminder,
correction …) is looked up by its Message-ID, as a person would recognise it by reading.
Replies are delivered into the service's Maildir, which the service polls.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import formataddr, getaddresses

from outreach.demo import replies
from outreach.demo.profiles import Profile, Step

#: what the supplier says with each action
TEXTS = {
    "cmrt": "Hello,\n\nplease find our completed CMRT attached.\n\nBest regards",
    "flawed": "Hello,\n\nattached is our conflict minerals template.\n\nRegards",
    "legacy": "Hi,\n\nhere is the CMRT we always send.\n\nBR",
    "pdf": "Hello,\n\nattached is our signed conflict minerals declaration.\n\nRegards",
    "question": "Hello,\n\nwhich reporting period do you need, and do you need one CMRT per "
                "plant?\n\nThanks",
}


@dataclass
class Pending:
    at: datetime
    step: Step
    original: EmailMessage
    raw: bytes
    recipient: str


@dataclass
class SimSupplier:
    code: str
    name: str
    profile: Profile
    primary: str
    colleague: str
    dead: str | None = None
    step: int = 0
    pending: Pending | None = None
    seen: set[str] = field(default_factory=set)
    received: Counter[str] = field(default_factory=Counter)
    sent: Counter[str] = field(default_factory=Counter)

    @property
    def addresses(self) -> tuple[str, ...]:
        return tuple(a for a in (self.primary, self.colleague, self.dead) if a)


@dataclass
class Suppliers:
    """Every simulated supplier, addressed by e-mail address."""

    sims: list[SimSupplier]
    #: Message-ID -> our message kind (template), None when not ours
    kind_of: Callable[[str], str | None]
    #: puts one raw message into the compliance mailbox
    deliver: Callable[[bytes], None]
    our_address: str
    seed: int = 0
    #: the year the suppliers declare for: their CMRTs are dated after it began
    reporting_year: int = 2025
    replies_sent: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self._by_address = {a.lower(): s for s in self.sims for a in s.addresses}

    def receive(self, recipients: Iterable[str], raw: bytes, now: datetime) -> None:
        """One message our service sent, as it reached ``recipients``."""
        message: EmailMessage | None = None
        for recipient in recipients:
            sim = self._by_address.get(recipient.lower())
            if sim is None:
                continue
            if message is None:
                message = message_from_bytes(raw, policy=policy.default)  # type: ignore[assignment]
            assert message is not None
            message_id = str(message["Message-ID"] or "")
            if not message_id or message_id in sim.seen:
                continue
            sim.seen.add(message_id)
            kind = self.kind_of(message_id)
            if kind is None:
                continue
            sim.received[kind] += 1
            self._arm(sim, kind, message, raw, recipient, now)

    def _arm(self, sim: SimSupplier, kind: str, message: EmailMessage, raw: bytes,
             recipient: str, now: datetime) -> None:
        if sim.pending is not None or sim.step >= len(sim.profile.steps):
            return
        step = sim.profile.steps[sim.step]
        if not step.triggered_by(kind):
            return
        if step.sender == "dead" and recipient.lower() != (sim.dead or "").lower():
            # the bounce comes from the dead address's copy; it arrives in the same pass
            dead = sim.dead or ""
            if dead.lower() not in {a.lower() for _, a in
                                    getaddresses(message.get_all("To", []) +
                                                 message.get_all("Cc", []))}:
                return
            recipient = dead
        rng = self._rng(sim, sim.step)
        delay = timedelta(days=step.delay_days)
        if step.action not in ("bounce", "autoreply"):  # people answer in office hours
            delay += timedelta(hours=rng.randint(1, 7))
        else:
            delay += timedelta(minutes=rng.randint(1, 20))
        sim.pending = Pending(now + delay, step, message, raw, recipient)

    def next_due(self) -> datetime | None:
        times = [s.pending.at for s in self.sims if s.pending is not None]
        return min(times) if times else None

    def act(self, now: datetime) -> int:
        """Everything due by ``now``; returns how many mails went into the mailbox."""
        done = 0
        for sim in self.sims:
            pending = sim.pending
            if pending is None or pending.at > now:
                continue
            self.deliver(self._make(sim, pending))
            sim.sent[pending.step.action] += 1
            self.replies_sent[pending.step.action] += 1
            sim.pending = None
            sim.step += 1
            done += 1
        return done

    def _make(self, sim: SimSupplier, pending: Pending) -> bytes:
        step, at, original = pending.step, pending.at, pending.original
        rng = self._rng(sim, sim.step, "content")
        sender_address = sim.colleague if step.sender == "colleague" else sim.primary
        sender = formataddr((sim.name, sender_address))
        if step.action == "bounce":
            return replies.bounce(pending.raw, failed_recipient=pending.recipient,
                                  our_address=self.our_address, at=at)
        if step.action == "autoreply":
            return replies.auto_reply(original, sender=formataddr((sim.name, pending.recipient)),
                                      at=at)
        text = TEXTS[step.action]
        dated = (date(self.reporting_year, 1, 1), at.date() - timedelta(days=1))
        attachment: tuple[str, bytes, str] | None = None
        if step.action == "cmrt":
            attachment = (f"CMRT_{sim.code}.xlsx", replies.complete_cmrt(
                rng, company=sim.name, contact_email=sender_address, dated_between=dated),
                          replies.XLSX)
        elif step.action == "flawed":
            attachment = (f"CMRT_{sim.code}.xlsx", replies.incomplete_cmrt(
                rng, company=sim.name, contact_email=sender_address, dated_between=dated),
                          replies.XLSX)
        elif step.action == "legacy":
            attachment = ("Conflict_Minerals_Template.xlsx", replies.legacy_cmrt(), replies.XLSX)
        elif step.action == "pdf":
            attachment = (f"CMRT_{sim.code}_signed.pdf", replies.tiny_pdf(), "application/pdf")
        return replies.reply(original, sender=sender, at=at, text=text, attachment=attachment)

    def _rng(self, sim: SimSupplier, step: int, purpose: str = "time") -> random.Random:
        return random.Random(f"{self.seed}:{sim.code}:{step}:{purpose}")  # noqa: S311


__all__ = ["SimSupplier", "Suppliers"]
