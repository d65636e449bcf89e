"""email.send against a real SMTP server (aiosmtpd) with STARTTLS, a self-signed certificate and AUTH."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from engine.sdk import ActionContext, ActionError
from engine.stack.processes import free_port
from integrations.elasticsearch.testing import action_context
from integrations.email import actions
from integrations.email.templates import render_email, templates_dir
from integrations.http.testing import invoke
from tests.fixtures.email import (  # noqa: F401
    SmtpServer,
    smtp_server,
    smtp_server_without_tls,
    smtps_server,
)
from tests.fixtures.http import tls_certificate  # noqa: F401

pytestmark = pytest.mark.integration

NOTICE_VARS = {
    "title": "fraud-scorer quarantined",
    "severity": "critical",
    "summary": "Tampered weights were detected.\nThe serving alias was moved.",
    "run_id": "run-mail",
    "playbook": "quarantine-compromised-model",
    "actions": ["verified signature", "quarantined v7"],
}


def _fails(ctx: ActionContext, **args: Any) -> ActionError:
    with pytest.raises(ActionError) as caught:
        invoke(actions.send, ctx, **args)
    return caught.value


def _text(part: Any) -> str:
    return str(part.get_content())


def test_a_templated_message_goes_out_over_starttls_with_text_and_html(smtp_server: SmtpServer) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    out = invoke(
        actions.send,
        smtp_server.context(),
        to=["Oncall <oncall@example.com>"],
        cc=["ml-security@example.com"],
        bcc=["archive@example.com"],
        template="incident-notice",
        vars=NOTICE_VARS,
    )
    assert out["accepted"] == ["oncall@example.com", "ml-security@example.com", "archive@example.com"]
    assert out["refused"] == {}
    # when the server took it, the evidence a legal clock is judged by
    assert before <= datetime.fromisoformat(out["sent_at"]) <= datetime.now(UTC)
    assert out["subject"] == "[fireline][CRITICAL] fraud-scorer quarantined"
    [delivered] = smtp_server.mailbox.delivered
    assert delivered.sender == "fireline@example.com"
    assert sorted(delivered.recipients) == [
        "archive@example.com",
        "ml-security@example.com",
        "oncall@example.com",
    ]
    message = delivered.message
    assert message["To"] == "Oncall <oncall@example.com>"
    assert message["Cc"] == "ml-security@example.com"
    assert message["Bcc"] is None
    assert message["Message-ID"] == out["message_id"]
    assert message["X-Fireline-Run"] == "run-mail"
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    assert "Tampered weights were detected." in _text(text)
    assert "  - quarantined v7" in _text(text)
    assert "<li>quarantined v7</li>" in _text(html)


def test_the_message_id_is_the_same_for_every_attempt_of_a_step(smtp_server: SmtpServer) -> None:
    args = {"to": ["a@example.com"], "subject": "s", "text": "t"}
    first = invoke(actions.send, smtp_server.context(idempotency_key="run-1/mail/0"), **args)
    again = invoke(actions.send, smtp_server.context(idempotency_key="run-1/mail/0"), **args)
    other = invoke(actions.send, smtp_server.context(idempotency_key="run-1/mail2/0"), **args)
    assert first["message_id"] == again["message_id"] != other["message_id"]
    assert first["message_id"].endswith("@example.com>")


def test_alert_text_is_escaped_in_html_and_never_evaluated(smtp_server: SmtpServer) -> None:
    hostile = {
        **NOTICE_VARS,
        "title": "pwn {{ 7*7 }}\r\nBcc: victim@evil.example",
        "summary": "<script>alert(1)</script> {% for x in range(9) %}x{% endfor %}",
        "run_url": "javascript:alert(1)",
    }
    out = invoke(
        actions.send, smtp_server.context(), to=["a@example.com"], template="incident-notice", vars=hostile
    )
    message = smtp_server.mailbox.delivered[0].message
    assert "\n" not in message["Subject"]
    assert message["Bcc"] is None
    assert out["subject"] == "[fireline][CRITICAL] pwn {{ 7*7 }} Bcc: victim@evil.example"
    html = _text(message.get_body(preferencelist=("html",)))
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "{% for x in range(9) %}" in html
    assert "javascript:" not in html
    text = _text(message.get_body(preferencelist=("plain",)))
    assert "{{ 7*7 }}" in text and "49" not in text


def test_literal_subject_and_text_are_sent_as_given(smtp_server: SmtpServer) -> None:
    invoke(
        actions.send,
        smtp_server.context(),
        to=["a@example.com"],
        **{"from": "Responder <ir@example.com>"},
        reply_to="dpo@example.com",
        subject="Notice {{ not a template }}",
        text="Body {{ alert.title }}",
    )
    message = smtp_server.mailbox.delivered[0].message
    assert message["Subject"] == "Notice {{ not a template }}"
    assert message["From"] == "Responder <ir@example.com>"
    assert message["Reply-To"] == "dpo@example.com"
    assert _text(message.get_body(preferencelist=("plain",))).strip() == "Body {{ alert.title }}"
    assert message.get_body(preferencelist=("html",)) is None


def test_the_breach_notice_template_renders_the_article_33_content(smtp_server: SmtpServer) -> None:
    variables = {
        "controller": "Example AI Ltd",
        "contact": "dpo@example.com",
        "reference": "INC-42",
        "aware_at": "2026-11-20T08:14Z",
        "nature": "Prompt injection exfiltrated support tickets.",
        "data_categories": ["names", "email addresses"],
        "subject_categories": ["customers"],
        "approx_subjects": 1200,
        "approx_records": 3400,
        "consequences": "Phishing risk.",
        "measures": ["blocked the API key", "purged the cache"],
    }
    out = invoke(
        actions.send,
        smtp_server.context(),
        to=["authority@example.org"],
        template="breach-authority-notice",
        vars=variables,
    )
    assert "GDPR Art. 33" in out["subject"]
    text = _text(smtp_server.mailbox.delivered[0].message.get_body(preferencelist=("plain",)))
    assert "Approximate number of data subjects: 1200" in text
    assert "names, email addresses" in text
    assert "   - purged the cache" in text


def test_a_server_without_starttls_gets_nothing(smtp_server_without_tls: SmtpServer) -> None:
    error = _fails(smtp_server_without_tls.context(), to=["a@example.com"], subject="s", text="t")
    assert (error.type, error.retryable) == ("StartTLSUnavailable", False)
    assert smtp_server_without_tls.mailbox.delivered == []


def test_plain_text_sessions_are_allowed_only_when_configured_and_without_a_password(
    smtp_server_without_tls: SmtpServer,
) -> None:
    error = _fails(
        smtp_server_without_tls.context(SMTP_SECURITY="none"), to=["a@example.com"], subject="s", text="t"
    )
    assert (error.type, error.retryable) == ("NotConfigured", False)
    assert "clear text" in str(error)
    ctx = smtp_server_without_tls.context(SMTP_SECURITY="none", secrets={})
    assert invoke(actions.send, ctx, to=["a@example.com"], subject="s", text="t")["accepted"] == [
        "a@example.com"
    ]


def test_a_wrong_password_is_not_retried_and_not_shown(smtp_server: SmtpServer) -> None:
    ctx = smtp_server.context(secrets={"SMTP_USERNAME": "fireline", "SMTP_PASSWORD": "wrong-pass-123"})
    error = _fails(ctx, to=["a@example.com"], subject="s", text="t")
    assert (error.type, error.retryable) == ("Unauthorized", False)
    assert "wrong-pass-123" not in str(error)
    assert smtp_server.mailbox.delivered == []


def test_a_certificate_the_client_does_not_trust_fails_the_handshake(smtp_server: SmtpServer) -> None:
    ctx = smtp_server.context(SMTP_CA_FILE="")
    error = _fails(ctx, to=["a@example.com"], subject="s", text="t")
    assert (error.type, error.retryable) == ("TLSError", False)


def test_refused_recipients_are_reported_and_all_refused_fails(smtp_server: SmtpServer) -> None:
    smtp_server.mailbox.refuse["gone@example.com"] = "550 5.1.1 No such user"
    smtp_server.mailbox.refuse["busy@example.com"] = "451 4.3.0 Try later"
    out = invoke(
        actions.send, smtp_server.context(), to=["ok@example.com", "gone@example.com"], subject="s", text="t"
    )
    assert out["accepted"] == ["ok@example.com"]
    assert out["refused"] == {"gone@example.com": "550 5.1.1 No such user"}
    error = _fails(smtp_server.context(), to=["gone@example.com"], subject="s", text="t")
    assert (error.type, error.retryable) == ("RecipientsRefused", False)
    error = _fails(smtp_server.context(), to=["busy@example.com"], subject="s", text="t")
    assert (error.type, error.retryable) == ("RecipientsRefused", True)


def test_implicit_tls_works(smtps_server: SmtpServer) -> None:
    ctx = smtps_server.context(SMTP_SECURITY="tls", secrets={})
    assert invoke(actions.send, ctx, to=["a@example.com"], subject="s", text="t")["accepted"] == [
        "a@example.com"
    ]


def test_an_unreachable_server_is_retryable(tmp_path: Path) -> None:
    ctx = action_context(
        settings={"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(free_port()), "SMTP_FROM": "f@example.com"}
    )
    error = _fails(ctx, to=["a@example.com"], subject="s", text="t")
    assert (error.type, error.retryable) == ("Unavailable", True)


def test_template_problems_fail_without_retry(smtp_server: SmtpServer, tmp_path: Path) -> None:
    error = _fails(smtp_server.context(), to=["a@example.com"], template="no-such-template")
    assert (error.type, error.retryable) == ("TemplateNotFound", False)
    error = _fails(
        smtp_server.context(), to=["a@example.com"], template="incident-notice", vars={"title": "x"}
    )
    assert (error.type, error.retryable) == ("TemplateError", False)
    (tmp_path / "evil.subject.j2").write_text("{{ ''.__class__.__mro__ }}")
    (tmp_path / "evil.txt.j2").write_text("x")
    error = _fails(
        smtp_server.context(EMAIL_TEMPLATES_DIR=str(tmp_path)), to=["a@example.com"], template="evil"
    )
    assert (error.type, error.retryable) == ("TemplateError", False)
    assert smtp_server.mailbox.delivered == []


@pytest.mark.parametrize(
    "args",
    [
        {"to": []},
        {"to": ["not-an-address"]},
        {"to": ["a@example.com\r\nBcc: x@evil.example"]},
        {"to": ["a@example.com, b@example.com"]},
        {"to": ["a@example.com"], "template": "incident-notice", "subject": "s"},
        {"to": ["a@example.com"], "subject": "only a subject"},
        {"to": ["a@example.com"], "subject": "s", "text": "t", "vars": {"a": 1}},
    ],
)
def test_bad_arguments_are_refused_before_sending(args: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        invoke(actions.send, action_context(), **args)


@pytest.mark.parametrize(
    ("name", "variables", "expected"),
    [
        (
            "breach-individual-notice",
            {
                "controller": "Example AI Ltd",
                "contact": "privacy@example.com",
                "nature": "A chatbot disclosed support tickets.",
                "consequences": "You may receive phishing emails.",
                "measures": ["closed the leak"],
                "advice": ["be wary of emails asking for passwords"],
                "name": "Ada <Lovelace>",
            },
            "Dear Ada <Lovelace>,",
        ),
        (
            "deadline-reminder",
            {
                "obligation": "notify the supervisory authority (GDPR Art. 33)",
                "deadline": "2026-11-23T08:14Z",
                "remaining": "6 h",
                "run_id": "run-1",
                "approvers": ["group:dpo"],
            },
            "Waiting for a decision from: group:dpo",
        ),
    ],
)
def test_shipped_templates_render(name: str, variables: dict[str, Any], expected: str) -> None:
    content = render_email(name, variables, templates_dir())
    assert expected in content.text
    assert content.subject and "\n" not in content.subject
    if content.html is not None:
        assert "&lt;Lovelace&gt;" in content.html
