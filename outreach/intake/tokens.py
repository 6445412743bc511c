"""Where a reply says which request it answers: the reply token and our Message-IDs.

The token travels in the Reply-To plus-address (``box+TOKEN@domain``, see
``outreach.mail.compose.plus_address``) and in the subject tag (``[CMRT 2026 · ref TOKEN]``,
``outreach.mail.template_context.subject_tag``). Our Message-IDs have the shape
``outreach.mail.compose.message_id_for`` gives them. Only extraction: matching is later.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from outreach.intake.model import Address, ParsedMessage

_TOKEN = re.compile(r"^[a-z0-9]{4,32}$")
_SUBJECT_TAG = re.compile(
    r"\[\s*(?P<family>[A-Za-z]{3,5})\s+(?P<year>\d{4})\b[^\]]{0,12}?\bref\s*[:#]?\s*"
    r"(?P<token>[A-Za-z0-9]{4,32})\s*\]",
    re.IGNORECASE,
)
_OUR_MESSAGE_ID = re.compile(r"^<[0-9a-f]{32}\.outreach@[^<>\s]+>$")


@dataclass(frozen=True)
class Token:
    value: str
    #: plus_address, subject or embedded (the Reply-To of a returned or forwarded original)
    source: str
    #: the address or the subject it was found in
    where: str
    #: the subject tag's template family and year ("CMRT", 2026); None for addresses
    family: str | None = None
    year: int | None = None


def tokens(parsed: ParsedMessage, mailbox: str | None = None) -> tuple[Token, ...]:
    """Every distinct token, plus-addresses first. With ``mailbox``, only its plus-addresses."""
    found: list[Token] = []
    for address in (*parsed.to, *parsed.cc, *parsed.delivered_to):
        token = plus_token(address, mailbox)
        if token:
            found.append(Token(token, "plus_address", address.address))
    for match in _SUBJECT_TAG.finditer(parsed.subject):
        found.append(Token(match.group("token").lower(), "subject", parsed.subject,
                           match.group("family").upper(), int(match.group("year"))))
    for embedded in parsed.embedded:
        for address in embedded.reply_to:
            token = plus_token(address, mailbox)
            if token:
                found.append(Token(token, "embedded", address.address))
    seen: set[str] = set()
    unique = []
    for token in found:
        if token.value not in seen:
            seen.add(token.value)
            unique.append(token)
    return tuple(unique)


def plus_token(address: Address, mailbox: str | None = None) -> str | None:
    local, _, domain = address.address.rpartition("@")
    base, plus, token = local.partition("+")
    if not plus or not domain:
        return None
    if mailbox is not None and f"{base}@{domain}".lower() != mailbox.lower():
        return None
    token = token.lower()
    return token if _TOKEN.match(token) else None


def referenced_ids(parsed: ParsedMessage) -> tuple[str, ...]:
    """In-Reply-To then References, each once."""
    return tuple(dict.fromkeys((*parsed.in_reply_to, *parsed.references)))


def our_message_ids(parsed: ParsedMessage, include_embedded: bool = False) -> tuple[str, ...]:
    """The referenced Message-IDs shaped like ours (and, for bounces, the returned original's)."""
    ids = list(referenced_ids(parsed))
    if include_embedded:
        ids.extend(e.message_id for e in parsed.embedded if e.message_id)
    return tuple(i for i in dict.fromkeys(ids) if _OUR_MESSAGE_ID.match(i.lower()))
