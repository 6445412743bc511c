"""Walking a parsed MIME tree: attachments at any depth, body text, embedded headers."""

from __future__ import annotations

from dataclasses import dataclass, field
from email import policy
from email.message import Message
from email.parser import HeaderParser

from outreach.intake import parts
from outreach.intake.filenames import decode_filename, fallback_name, sanitise
from outreach.intake.headers import addresses, decode_header, message_ids, raw_text
from outreach.intake.kinds import head_kind, kind_of
from outreach.intake.model import (
    Attachment,
    EmbeddedMessage,
    Kind,
    ParseLimits,
    Problem,
)
from outreach.intake.unzip import unpack

_MAX_DSN_BLOCKS = 200


@dataclass
class Walk:
    """What one pass over the tree collects; a fresh one per attempt (default, compat32)."""

    limits: ParseLimits
    problems: list[Problem] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    plain: list[tuple[int, str]] = field(default_factory=list)
    html: list[tuple[int, str]] = field(default_factory=list)
    embedded: list[EmbeddedMessage] = field(default_factory=list)
    delivery_status: list[tuple[tuple[str, str], ...]] = field(default_factory=list)
    seen_parts: int = 0
    kept_bytes: int = 0
    body_chars: int = 0
    stopped: bool = False

    def run(self, message: Message) -> None:
        self._visit(message, "", 0)

    # ----------------------------------------------------------------- tree
    def _visit(self, part: Message, path: str, depth: int) -> None:
        if self.stopped:
            return
        self.seen_parts += 1
        if self.seen_parts > self.limits.max_parts:
            self.stopped = True
            self.problems.append(Problem(
                "too_many_parts",
                f"the message has more than {self.limits.max_parts} parts; the rest was skipped",
            ))
            return
        self._note_defects(part)
        content_type = part.get_content_type()
        if content_type == "message/delivery-status":
            self._delivery_status(part)
        elif content_type == "message/rfc822" and part.is_multipart():
            self._forwarded(part, path, depth)
        elif part.is_multipart():
            children = part.get_payload()
            for index, child in enumerate(children if isinstance(children, list) else [], 1):
                if self.stopped:
                    break
                if isinstance(child, Message):
                    self._visit(child, _join(path, index), depth)
        elif content_type == "text/rfc822-headers":
            text = parts.text_of(part, 256 * 1024)
            self.embedded.append(summary(HeaderParser(policy=policy.compat32).parsestr(text),
                                         path or "1", self.problems))
        else:
            self._leaf(part, path or "1", depth, content_type)

    def _forwarded(self, part: Message, path: str, depth: int) -> None:
        if depth + 1 > self.limits.max_depth:
            self.problems.append(Problem(
                "too_deep", f"forwarded messages nest deeper than {self.limits.max_depth}"
            ))
            return
        inner = part.get_payload()
        if isinstance(inner, list) and inner and isinstance(inner[0], Message):
            self.embedded.append(summary(inner[0], path or "1", self.problems))
            self._visit(inner[0], _join(path, 1), depth + 1)

    def _delivery_status(self, part: Message) -> None:
        blocks = part.get_payload()
        for block in (blocks if isinstance(blocks, list) else [])[:_MAX_DSN_BLOCKS]:
            if isinstance(block, Message):
                self.delivery_status.append(tuple(
                    (name, decode_header(name, value, self.problems))
                    for name, value in block.raw_items()
                ))

    def _note_defects(self, part: Message) -> None:
        for defect in getattr(part, "defects", ())[:5]:
            problem = Problem("mime_defect", type(defect).__name__)
            if problem not in self.problems:
                self.problems.append(problem)

    # ----------------------------------------------------------------- leaves
    def _leaf(self, part: Message, path: str, depth: int, content_type: str) -> None:
        disposition = part.get_content_disposition()
        raw_name = part.get_filename()
        if content_type in ("text/plain", "text/html") and disposition != "attachment" and (
            not raw_name
        ):
            self._text(part, depth, content_type)
            return
        encoded = parts.encoded_payload(part)
        size = parts.declared_size(part) or 0
        estimate = parts.estimated_size(part, encoded)
        too_large = max(size, estimate) > self.limits.max_attachment_bytes
        over_total = self.kept_bytes + estimate > self.limits.max_total_bytes
        inline = disposition == "inline" or (disposition is None and bool(part.get("content-id")))
        if too_large or over_total:
            kind = head_kind(parts.head_bytes(part, encoded))
            name = self._name(raw_name, kind, content_type, path)
            declared = size or estimate
            self.problems.append(Problem("too_large" if too_large else "message_too_large", (
                f"{name!r} is about {declared} bytes, more than the "
                f"{self.limits.max_attachment_bytes if too_large else self.limits.max_total_bytes}"
                " accepted; it was not kept"
            )))
            self.attachments.append(Attachment(name, content_type, kind, declared, None, path,
                                               depth, status="too_large", inline=inline))
            return
        content = parts.content_bytes(part)
        kind = kind_of(content)
        name = self._name(raw_name, kind, content_type, path)
        self.kept_bytes += len(content)
        self.attachments.append(Attachment(name, content_type, kind, len(content), content, path,
                                           depth, inline=inline))
        if kind == "zip":
            self._unzip(content, name, path, depth)

    def _unzip(self, content: bytes, archive: str, path: str, depth: int) -> None:
        members, problems = unpack(content, archive, self.limits)
        self.problems.extend(problems)
        for member in members:
            kind = kind_of(member.content)
            member_path = f"{path}/{member.index}"
            name = self._name(member.name, kind, "application/octet-stream", member_path)
            self.attachments.append(Attachment(name, "application/octet-stream", kind,
                                               len(member.content), member.content,
                                               member_path, depth, archive=archive))

    def _name(self, raw_name: str | None, kind: Kind, content_type: str, path: str) -> str:
        decoded = decode_filename(raw_name) if raw_name else ""
        name, unsafe = sanitise(decoded)
        if unsafe:
            self.problems.append(Problem(
                "unsafe_filename", f"the file name {decoded[:120]!r} was made safe as {name!r}"
            ))
        return name or fallback_name(kind, content_type, path.replace("/", "-"))

    def _text(self, part: Message, depth: int, content_type: str) -> None:
        room = self.limits.max_body_chars - self.body_chars
        if room <= 0:
            return
        text = parts.text_of(part, room)
        self.body_chars += len(text)
        (self.plain if content_type == "text/plain" else self.html).append((depth, text))


def summary(message: Message, path: str, problems: list[Problem]) -> EmbeddedMessage:
    """The identifying headers of a forwarded or returned message."""

    def raw(name: str) -> list[str]:
        return [raw_text(v)[0] for k, v in message.raw_items() if k.lower() == name]

    def text(name: str) -> str:
        values = [v for k, v in message.raw_items() if k.lower() == name]
        return decode_header(name, values[0], problems) if values else ""

    senders = addresses(raw("from"))
    ids = message_ids(text("message-id"))
    return EmbeddedMessage(path=path, message_id=ids[0] if ids else None,
                           subject=text("subject"), sender=senders[0] if senders else None,
                           reply_to=addresses(raw("reply-to")), to=addresses(raw("to")))


def _join(path: str, index: int) -> str:
    return f"{path}.{index}" if path else str(index)
