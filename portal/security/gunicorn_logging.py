"""gunicorn logger that redacts patient access tokens from access-log lines.

Whatever ``access_log_format`` says, the request line (``%(r)s``), path (``%(U)s``), query
(``%(q)s``) and referer (``%(f)s``) pass through ``screening.logging.redact`` first: the token of
``/s/<id>/<token>/`` and of ``?token=`` never reaches a log file.
"""

from __future__ import annotations

from gunicorn.glogging import Logger

REDACTED_ATOMS = ("r", "U", "f")


class RedactingLogger(Logger):
    def atoms(self, resp, req, environ, request_time):
        from screening.logging import redact

        atoms = super().atoms(resp, req, environ, request_time)
        for key, value in list(atoms.items()):
            if not isinstance(value, str):
                continue
            if key == "{x-access-token}i":
                atoms[key] = "[redacted]"
            elif key in REDACTED_ATOMS or key == "q" or key.startswith("{"):
                # Query strings come without their "?": redact as if they had one.
                atoms[key] = redact("?" + value)[1:]
        return atoms
