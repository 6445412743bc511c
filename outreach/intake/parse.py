"""``parse_message``: untrusted e-mail bytes → a frozen ``ParsedMessage``, never an exception.

The tree is parsed with ``policy.default``; when that policy raises on a broken header
while the tree is walked, the walk is redone under ``compat32`` (which keeps headers as
strings) and the fallback is recorded. Headers are decoded from their raw text
(``headers``), so non-UTF-8 bytes and broken encoded words become problems, not crashes.
A message larger than ``max_message_bytes`` is read for its headers only.
"""

from __future__ import annotations

import email
from email import policy
from email.message import Message

from outreach.intake.body import file_links, html_to_text
from outreach.intake.headers import (
    addresses,
    decode_header,
    message_ids,
    parse_date,
    raw_text,
)
from outreach.intake.model import ParsedMessage, ParseLimits, Problem
from outreach.intake.walk import Walk

__all__ = ["ParseLimits", "ParsedMessage", "parse_message"]


def parse_message(raw: bytes, limits: ParseLimits = ParseLimits()) -> ParsedMessage:
    """Parse one message; every failure is a ``Problem`` on the result."""
    try:
        return _parse(bytes(raw), limits)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # a bug or an exhausted heap: still an answer, not a crash
        return _empty(len(raw), Problem("unparseable", f"the message could not be parsed "
                                                       f"({type(exc).__name__})"))


def _parse(raw: bytes, limits: ParseLimits) -> ParsedMessage:
    problems: list[Problem] = []
    if len(raw) > limits.max_message_bytes:
        problems.append(Problem(
            "message_too_large",
            f"the message is {len(raw)} bytes, more than the {limits.max_message_bytes} "
            "accepted; only its headers were read",
        ))
        message = email.message_from_bytes(_header_block(raw), policy=policy.compat32)
        walk = Walk(limits)
    else:
        message, walk = _walk_tree(raw, limits, problems)
    return _result(message, walk, raw, limits, problems)


def _walk_tree(raw: bytes, limits: ParseLimits, problems: list[Problem]) -> tuple[Message, Walk]:
    message = email.message_from_bytes(raw, policy=policy.default)
    walk = Walk(limits)
    try:
        walk.run(message)
        return message, walk
    except Exception as exc:
        problems.append(Problem(
            "parser_fallback",
            f"a header broke the standard parser ({type(exc).__name__}); read leniently",
        ))
    message = email.message_from_bytes(raw, policy=policy.compat32)
    walk = Walk(limits)
    try:
        walk.run(message)
    except Exception as exc:
        problems.append(Problem(
            "unparseable_structure",
            f"the message's parts could not be read ({type(exc).__name__})",
        ))
        walk = Walk(limits)
    return message, walk


def _header_block(raw: bytes) -> bytes:
    ends = [at for at in (raw.find(b"\r\n\r\n"), raw.find(b"\n\n")) if at != -1]
    return raw[: min(ends)] + b"\n\n" if ends else raw[:65536]


def _result(message: Message, walk: Walk, raw: bytes, limits: ParseLimits,
            problems: list[Problem]) -> ParsedMessage:
    items = list(message.raw_items())[: limits.max_headers]
    if len(items) == limits.max_headers:
        problems.append(Problem("too_many_headers", f"only {limits.max_headers} headers read"))
    headers = tuple((name, decode_header(name, value, problems)) for name, value in items)

    def raw_values(*names: str) -> list[str]:
        return [raw_text(v)[0] for k, v in items if k.lower() in names]

    def first(name: str) -> str | None:
        return next((v for k, v in headers if k.lower() == name), None)

    senders = addresses(raw_values("from"))
    ids = message_ids(first("message-id"))
    text, links = _body(walk, limits)
    problems.extend(walk.problems)
    return ParsedMessage(
        message_id=ids[0] if ids else None,
        in_reply_to=message_ids(first("in-reply-to")),
        references=message_ids(" ".join(v for k, v in headers if k.lower() == "references")),
        sender=senders[0] if senders else None,
        to=addresses(raw_values("to")),
        cc=addresses(raw_values("cc")),
        delivered_to=addresses(raw_values("delivered-to", "x-original-to", "envelope-to")),
        reply_to=addresses(raw_values("reply-to")),
        subject=first("subject") or "",
        date=parse_date(first("date"), problems),
        content_type=_content_type(message),
        headers=headers,
        attachments=tuple(walk.attachments),
        text=text,
        links=links,
        embedded=tuple(walk.embedded),
        delivery_status=tuple(walk.delivery_status),
        size=len(raw),
        problems=tuple(dict.fromkeys(problems)),
    )


def _body(walk: Walk, limits: ParseLimits) -> tuple[str, tuple]:
    """The main text (the shallowest plain part, else HTML stripped) and all file links."""
    sources: list[str] = [text for _, text in walk.plain]
    stripped: list[tuple[int, str]] = []
    for depth, html in walk.html:
        text, hrefs = html_to_text(html)
        stripped.append((depth, text))
        sources.extend(hrefs)
        sources.append(text)
    candidates = sorted(walk.plain, key=lambda item: item[0]) or sorted(
        stripped, key=lambda item: item[0])
    main = candidates[0][1] if candidates else ""
    return main, file_links(sources, limits.max_links)


def _content_type(message: Message) -> str:
    try:
        return message.get_content_type()
    except Exception:
        return "text/plain"


def _empty(size: int, problem: Problem) -> ParsedMessage:
    return ParsedMessage(
        message_id=None, in_reply_to=(), references=(), sender=None, to=(), cc=(),
        delivered_to=(), reply_to=(), subject="", date=None, content_type="text/plain",
        headers=(), attachments=(), text="", links=(), size=size, problems=(problem,),
    )
