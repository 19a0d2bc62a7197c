"""SMS backends, chosen by ``settings.SMS_BACKEND`` like Django's e-mail backends.

A real gateway is one subclass of ``BaseSmsBackend`` with ``send_messages``. Shipped:
``ConsoleSmsBackend`` (stdout, the default), ``FileSmsBackend`` (one file per message under
``SMS_FILE_PATH``) and ``LocmemSmsBackend`` (kept in ``outbox``, for tests).
"""

from __future__ import annotations

import sys
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.utils.module_loading import import_string


@dataclass(frozen=True)
class SmsMessage:
    to: str  # E.164
    body: str


class BaseSmsBackend:
    def send_messages(self, messages: list[SmsMessage]) -> int:
        """Send the messages; return how many were sent."""
        raise NotImplementedError


class ConsoleSmsBackend(BaseSmsBackend):
    def __init__(self, stream=None) -> None:
        self.stream = stream or sys.stdout

    def send_messages(self, messages: list[SmsMessage]) -> int:
        for message in messages:
            self.stream.write(f"SMS to {message.to}\n{message.body}\n{'-' * 40}\n")
        self.stream.flush()
        return len(messages)


class FileSmsBackend(BaseSmsBackend):
    def __init__(self, path: str | None = None) -> None:
        self.path = Path(path or settings.SMS_FILE_PATH)

    def send_messages(self, messages: list[SmsMessage]) -> int:
        self.path.mkdir(parents=True, exist_ok=True)
        for message in messages:
            (self.path / f"{uuid.uuid4().hex}.txt").write_text(
                f"To: {message.to}\n\n{message.body}\n", encoding="utf-8"
            )
        return len(messages)


outbox: list[SmsMessage] = []
_outbox_lock = threading.Lock()


class LocmemSmsBackend(BaseSmsBackend):
    """Keeps messages in ``notifications.sms.outbox`` (the live-server thread shares it)."""

    def send_messages(self, messages: list[SmsMessage]) -> int:
        with _outbox_lock:
            outbox.extend(messages)
        return len(messages)


def get_sms_backend() -> BaseSmsBackend:
    return import_string(settings.SMS_BACKEND)()


def sms_send(*, to: str, body: str) -> bool:
    return get_sms_backend().send_messages([SmsMessage(to=to, body=body)]) == 1
