"""Logging filter that keeps patient access tokens out of logs.

Patient status URLs (``/s/<id>/<token>/``) and ``?token=`` query strings appear in request logs
(``django.server``, ``django.request``); the token is a credential, so it is replaced.
"""

import logging
import re

_PATTERNS = (
    (re.compile(r"(/s/[0-9a-fA-F-]{36}/)[A-Za-z0-9_\-]+"), r"\1[redacted]"),
    (re.compile(r"([?&]token=)[^&\s\"']+"), r"\1[redacted]"),
)


def redact(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactAccessTokensFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - never break logging
            return True
        redacted = redact(message)
        if redacted != message:
            record.msg = redacted
            record.args = None
        return True
