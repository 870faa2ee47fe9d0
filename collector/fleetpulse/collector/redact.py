"""Secrets out of text: the one function every status message and log line goes through.

What is removed (each replaced by ``***``):

- the password of a URL's user information, ``scheme://user:PASSWORD@host`` (RFC 3986
  section 3.2.1), e.g. a ``--db postgresql://...`` URL;
- ``password=...`` and ``sslpassword=...`` in a libpq connection string or a URL query
  (PostgreSQL manual, "Connection Strings", 34.1.1 and 34.1.2), quoted or not;
- enrollment tokens and device credentials of ours, ``fpt_...`` and ``fpd_...``
  (``fleetpulse.collector.auth.TOKEN_PREFIX`` / ``SECRET_PREFIX`` followed by URL-safe base64);
- the value of an ``authorization`` header (``Device ...``, ``Basic ...``, ``Bearer ...``).

The user name, host, port and database name stay: they are what an operator needs to see
which database is meant.
"""

from __future__ import annotations

import logging
import re

MASK = "***"

_URL_PASSWORD = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^\s:/?#@]*):[^\s@]*@")
_KEYWORD = re.compile(
    r"""\b((?:ssl)?password)(\s*=\s*)('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|[^\s&;,'"]+)""",
    re.IGNORECASE,
)
_OUR_SECRETS = re.compile(r"\bfp[td]_[A-Za-z0-9_-]+")
# a credential after its scheme: 8+ characters, not all lower-case (prose such as "Basic
# authentication" stays)
_AUTHORIZATION = re.compile(r"\b(Device|Basic|Bearer)\s+(?=[^\s]*[A-Z0-9+/=])[A-Za-z0-9_+/=.-]{8,}")


def redact(text: object) -> str:
    """``str(text)`` with every secret listed in the module docstring replaced by ``***``.

    Idempotent: ``redact(redact(x)) == redact(x)``. Never raises."""
    s = str(text)
    s = _URL_PASSWORD.sub(rf"\1:{MASK}@", s)
    s = _KEYWORD.sub(rf"\1\2{MASK}", s)
    s = _OUR_SECRETS.sub(lambda m: m.group(0)[:4] + MASK, s)
    return _AUTHORIZATION.sub(rf"\1 {MASK}", s)


class RedactingFilter(logging.Filter):
    """A handler filter: the formatted message and any traceback text of every record
    pass through :func:`redact` before a handler writes them."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def install(logger: logging.Logger | None = None) -> None:
    """Adds a :class:`RedactingFilter` to every handler of ``logger`` (default: root)."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
