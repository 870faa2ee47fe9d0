"""The one redaction function: every kind of secret it promises to remove, and what stays."""

from __future__ import annotations

import logging

import pytest

from fleetpulse.collector.auth import SECRET_PREFIX, new_token
from fleetpulse.collector.redact import RedactingFilter, redact

SECRET = "s3cr3t-Pw"


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        (
            f"postgresql://fleet:{SECRET}@db.example:5432/fp",
            "postgresql://fleet:***@db.example:5432/fp",
        ),
        (
            f"cannot connect to postgres://u:{SECRET}@h/db: refused",
            "postgres://u:***@h/db: refused",
        ),
        (f"postgresql://u@h/db?sslmode=require&password={SECRET}&x=1", "password=***&x=1"),
        (
            f"host=db user=fleet password={SECRET} dbname=fp",
            "host=db user=fleet password=*** dbname=fp",
        ),
        (f"host=db password='{SECRET} with space' dbname=fp", "password=*** dbname=fp"),
        (f"PASSWORD = {SECRET}", "PASSWORD = ***"),
        (f"sslpassword={SECRET}", "sslpassword=***"),
        (f"authorization: Device {SECRET}-xxxxxxxx", "Device ***"),
        (f"Basic {SECRET}==", "Basic ***"),
    ],
)
def test_secrets_are_masked_and_the_rest_kept(text: str, kept: str) -> None:
    out = redact(text)
    assert SECRET not in out
    assert kept in out
    assert redact(out) == out


def test_our_tokens_and_credentials_are_masked() -> None:
    token = new_token()[1]
    credential = SECRET_PREFIX + token[4:]
    out = redact(f"token {token} and device secret {credential}.")
    assert token not in out and credential not in out
    assert out == "token fpt_*** and device secret fpd_***."


def test_text_without_secrets_is_unchanged() -> None:
    text = (
        "unknown device 'ab12', postgresql://fleet@db:5432/fp?sslmode=require (retry);"
        " Basic authentication for /metrics; Device id."
    )
    assert redact(text) == text


def test_log_filter_redacts_message_arguments_and_tracebacks() -> None:
    record = logging.LogRecord(
        "x", logging.ERROR, __file__, 1, "lost %s", (f"password={SECRET}",), None
    )
    try:
        raise RuntimeError(f"postgresql://u:{SECRET}@h/db")
    except RuntimeError as exc:
        record.exc_info = (type(exc), exc, exc.__traceback__)
    assert RedactingFilter().filter(record)
    text = logging.Formatter().format(record)
    assert SECRET not in text
    assert "postgresql://u:***@h/db" in text
