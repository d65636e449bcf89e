"""Typed parameters and result of ``email.send``."""

from __future__ import annotations

import re
from email.utils import formataddr, parseaddr
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

_ADDRESS = re.compile(
    r"^[^@\s<>,;:\"()\[\]\\]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)*$"
)


def _check_address(value: str) -> str:
    """``a@b.c`` or ``Name <a@b.c>``, normalised; nothing that could add a header or a recipient."""
    if any(c in value for c in "\r\n"):
        raise ValueError("an address may not contain line breaks")
    name, address = parseaddr(value)
    if not _ADDRESS.match(address) or len(address) > 254:
        raise ValueError(f"{value[:80]!r} is not an email address")
    return formataddr((" ".join(name.split()), address)) if name else address


Address = Annotated[str, Field(max_length=320), AfterValidator(_check_address)]


def _blank_is_none(value: Any) -> Any:
    # Templated arguments render a missing value as "": treat it as not given.
    return None if isinstance(value, str) and not value.strip() else value


OptionalAddress = Annotated[Address | None, BeforeValidator(_blank_is_none)]


def bare(address: str) -> str:
    """The address without its display name (what the SMTP envelope carries)."""
    return parseaddr(address)[1]


class SendParams(BaseModel):
    """Parameters of ``email.send``: a template (with ``vars``) or a literal ``subject`` and ``text``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    to: list[Address] = Field(min_length=1, max_length=100)
    cc: list[Address] = Field(default_factory=list, max_length=100)
    bcc: list[Address] = Field(default_factory=list, max_length=100, description="Recipients not shown")
    sender: OptionalAddress = Field(None, alias="from", description="Sender; SMTP_FROM when omitted")
    reply_to: OptionalAddress = None
    template: str | None = Field(
        None,
        description="Message in playbooks/templates/email: <name>.subject.j2, .txt.j2, optional .html.j2",
    )
    vars: dict[str, Any] = Field(default_factory=dict, description="Variables for the template")
    subject: str | None = Field(None, max_length=998, description="Literal subject (never evaluated)")
    text: str | None = Field(
        None, max_length=500_000, description="Literal plain-text body (never evaluated)"
    )

    @model_validator(mode="after")
    def _one_body(self) -> SendParams:
        if self.template is not None and (self.subject is not None or self.text is not None):
            raise ValueError("give either `template` (with `vars`) or `subject` and `text`, not both")
        if self.template is None and (self.subject is None or self.text is None):
            raise ValueError("give `template`, or both `subject` and `text`")
        if self.vars and self.template is None:
            raise ValueError("`vars` needs a `template`")
        return self


class SendResult(BaseModel):
    """What ``email.send`` returns."""

    message_id: str
    subject: str
    accepted: list[str] = Field(description="Recipients the server took")
    refused: dict[str, str] = Field(description="Recipients it refused, with its answer")
    sent_at: str = Field("", description="When the server took the message, ISO-8601 UTC ending in Z")
