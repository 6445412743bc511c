"""The escalation ladder as data: which message goes to whom, when.

A campaign freezes the configured ladder when it starts (``Campaign.ladder``), so a config
change never reshuffles a season already under way. This module only describes a ladder and
checks it is coherent; deciding what is due from it is ``decide()``'s job
(``outreach/core/decide.py`` documents how the timing fields are read).

Ladder-wide settings: ``send_hour`` (the hour, on the supplier's own wall clock, at which a
stage's messages go out) and ``rejection_grace_days`` (after a rejected submission, how long
the ladder waits at least before its next stage, so the correction request is not followed at
once by a reminder). Fields added later have defaults, so a ladder frozen into an older
campaign still loads.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from outreach.core.enums import ContactRole

#: a supplier contact role, or one of ours: the compliance mailbox, the supplier's buyer,
#: the company's senior officer (who signs the official notice)
Recipient = ContactRole | Literal["compliance", "buyer", "our_senior_officer"]


class LadderStage(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=40)]
    #: folder under templates/email/ that renders this stage's message; none for a hand-over
    template: str | None = None
    to: tuple[Recipient, ...] = (ContactRole.PRIMARY,)
    cc: tuple[Recipient, ...] = ()
    #: how long after ``relative_to`` the stage is due (negative: before the due date)
    after_days: int = 0
    business_days: bool = False
    relative_to: Literal["previous", "start", "due"] = "previous"
    #: how many times the stage is sent (reminders repeat), each ``after_days`` after the last
    repeat: Annotated[int, Field(ge=1, le=10)] = 1
    #: wait for ``outreach approve`` before the stage goes out (threatening stages do)
    requires_approval: bool = False
    attach_blank_template: bool = False
    #: the final stage: stop emailing and flag the supplier for procurement
    handover: bool = False

    @model_validator(mode="after")
    def _coherent(self) -> LadderStage:
        if self.handover and self.template is not None:
            raise ValueError("a hand-over stage sends no e-mail: leave 'template' out")
        if not self.handover and self.template is None:
            raise ValueError(f"stage {self.name!r} needs a 'template' (or 'handover = true')")
        if self.after_days < 0 and self.relative_to != "due":
            raise ValueError(f"stage {self.name!r}: a negative after_days only makes sense "
                             "relative to 'due' (days before the due date)")
        if self.repeat > 1 and self.after_days < 1:
            raise ValueError(f"stage {self.name!r} repeats: it needs after_days of at least 1 "
                             "between its sends")
        if self.handover and self.repeat != 1:
            raise ValueError(f"hand-over stage {self.name!r} happens once: leave 'repeat' out")
        return self


class Ladder(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    stages: tuple[LadderStage, ...]
    #: the hour (0-23) on the supplier's wall clock at which messages go out
    send_hour: Annotated[int, Field(ge=0, le=23)] = 9
    #: after a rejected submission the next stage waits at least this many days
    rejection_grace_days: Annotated[int, Field(ge=0, le=365)] = 7

    @model_validator(mode="after")
    def _coherent(self) -> Ladder:
        if not self.stages:
            raise ValueError("a ladder needs at least one stage")
        names = [s.name for s in self.stages]
        if len(set(names)) != len(names):
            raise ValueError(f"stage names must be unique, got {names}")
        if any(s.handover for s in self.stages[:-1]):
            raise ValueError("only the last stage may be a hand-over")
        return self

    def stage(self, name: str) -> LadderStage:
        for s in self.stages:
            if s.name == name:
                return s
        raise KeyError(name)


def default_ladder() -> Ladder:
    """The process of the seed filing: request, reminders, follow-up, official notice, hand-over."""
    return Ladder(
        stages=(
            LadderStage(
                name="request", template="request", relative_to="start",
                attach_blank_template=True,
            ),
            LadderStage(name="reminder", template="reminder", after_days=10, business_days=True,
                        repeat=2),
            LadderStage(name="follow_up", template="follow_up", relative_to="due", after_days=1,
                        to=(ContactRole.PRIMARY, ContactRole.ESCALATION), cc=("buyer",)),
            LadderStage(name="senior_notice", template="senior_notice", after_days=10,
                        business_days=True,
                        to=(ContactRole.PRIMARY, ContactRole.SENIOR_OFFICER),
                        cc=(ContactRole.ESCALATION, "buyer", "compliance",
                            "our_senior_officer"),
                        requires_approval=True),
            LadderStage(name="handover", handover=True, after_days=10, business_days=True,
                        requires_approval=True),
        )
    )
