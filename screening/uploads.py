"""Upload size limit enforced while the multipart body streams in.

``RequestSizeLimitMiddleware`` refuses a body whose declared ``Content-Length`` is far over the
limit before anything is read (Django never reads past ``Content-Length``). A body just under
that bound can still carry a file a little over ``MAX_UPLOAD_BYTES``: this handler, first in
``FILE_UPLOAD_HANDLERS``, counts the file's bytes as they arrive and stops reading the request as
soon as the limit is passed, so the oversized file is neither read to its end nor spooled to
disk. The form then reports ``rules.TOO_LARGE`` on the ``image`` field.
"""

from __future__ import annotations

from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http import HttpRequest

from . import rules

_FLAG = "_screening_upload_too_large"


class UploadLimitHandler(FileUploadHandler):
    """Abort the upload once a file exceeds ``rules.max_upload_bytes()``."""

    def new_file(self, *args, **kwargs) -> None:
        super().new_file(*args, **kwargs)
        self.received = 0
        declared = getattr(self, "content_length", None)  # a part's own Content-Length, if sent
        if declared and declared > rules.max_upload_bytes():
            self._abort()

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        if self.received > rules.max_upload_bytes():
            self._abort()
        return raw_data  # pass on to the next handler (memory or temporary file)

    def file_complete(self, file_size: int) -> None:
        return None  # the next handler builds the UploadedFile

    def _abort(self) -> None:
        if self.request is not None:
            setattr(self.request, _FLAG, True)
        # connection_reset: do not read the rest of the body; the response closes the connection.
        raise StopUpload(connection_reset=True)


def upload_too_large(request: HttpRequest | None) -> bool:
    """Whether ``UploadLimitHandler`` stopped this request's upload (DRF requests too)."""
    django_request = getattr(request, "_request", request)
    return bool(getattr(django_request, _FLAG, False))
