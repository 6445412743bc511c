"""Is this an automatic answer (out-of-office, vacation, read receipt)? RFC 3834 and habit.

Headers decide first: ``Auto-Submitted`` other than ``no``, ``X-Autoreply``,
``X-Autorespond``, ``Precedence: auto_reply|bulk|junk``. ``X-Auto-Response-Suppress`` on
incoming mail says what the sender wants suppressed, not what the message is, so it does
not count. Subjects catch responders that set no header (Outlook's "Automatic reply:",
Lotus Notes' "Abwesenheitsnotiz", ...), in the languages our suppliers write.
"""

from __future__ import annotations

import re
import unicodedata

from outreach.intake.model import ParsedMessage

_PRECEDENCE = frozenset({"auto_reply", "bulk", "junk"})
_FLAG_HEADERS = ("x-autoreply", "x-autorespond", "x-autoresponder")

_PHRASES: tuple[str, ...] = (
    # English
    "out of office", "out of the office", "automatic reply", "auto reply", "auto-reply",
    "autoreply", "auto response", "auto-response", "autoresponse", "vacation reply",
    "away from the office", "away from office", "on vacation", "on leave",
    # German
    "abwesenheitsnotiz", "automatische antwort", "abwesenheitsmeldung", "nicht im büro",
    "außer haus", "ausser haus", "abwesend", "urlaubsabwesenheit",
    # French
    "réponse automatique", "reponse automatique", "absence du bureau", "absent du bureau",
    "message d'absence", "message d’absence", "hors du bureau",
    # Spanish
    "respuesta automática", "respuesta automatica", "fuera de la oficina",
    "fuera de oficina", "ausente de la oficina", "mensaje de ausencia",
    # Chinese (simplified, traditional) and Japanese
    "自动回复", "自動回覆", "自動回復", "自动答复", "外出通知", "休假", "不在办公室",
    "自動応答", "自動返信", "不在通知", "不在のお知らせ",
)
_PREFIXES = re.compile(r"^\s*(auto|oof|ooo|abwesend|absent|ausente|不在)\s*[:：]", re.IGNORECASE)


def reasons(parsed: ParsedMessage) -> list[str]:
    """Why the message is an automatic answer; empty when it is not one."""
    found: list[str] = []
    submitted = (parsed.header("Auto-Submitted") or "").split(";")[0].strip().lower()
    if submitted and submitted != "no":
        found.append(f"Auto-Submitted: {submitted}")
    for name in _FLAG_HEADERS:
        value = parsed.header(name)
        if value is not None and value.strip().lower() not in ("no", "false", "0"):
            found.append(f"{name}: {value.strip()[:40]}")
    precedence = (parsed.header("Precedence") or "").strip().lower()
    if precedence in _PRECEDENCE:
        found.append(f"Precedence: {precedence}")
    phrase = subject_phrase(parsed.subject)
    if phrase:
        found.append(f"subject: {phrase}")
    return found


def subject_phrase(subject: str) -> str | None:
    """The auto-reply phrase in a subject, if any."""
    text = unicodedata.normalize("NFKC", subject).casefold()
    text = re.sub(r"\s+", " ", text)
    for phrase in _PHRASES:
        if phrase in text:
            return phrase
    match = _PREFIXES.match(text)
    return match.group(1) if match else None
