"""Where uploaded radiographs, de-identified DICOMs and heatmaps are kept: a plain directory
(``MEDIA_ROOT``) that is never URL-served, under random names.

Only access-checked clinician views stream these files; nothing here decides who may see them.
"""

import contextlib
import os
import uuid

from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, default_storage


class PrivateFileSystemStorage(FileSystemStorage):
    """``MEDIA_ROOT`` storage without URLs: images are only streamed by access-checked views."""

    def url(self, name: str | None) -> str:
        raise ValueError("Uploaded images are private and have no URL; use the clinician view.")

    def _save(self, name: str, content) -> str:
        # A full disk fails mid-write and Django leaves the partial file behind; remove it, so
        # that a refused upload leaves nothing (tests/ops/test_faults.py, the disk-full case).
        try:
            return super()._save(name, content)
        except OSError as exc:
            if not isinstance(exc, FileExistsError):
                with contextlib.suppress(OSError):
                    os.remove(self.path(name))
            raise


def _save(prefix: str, suffix: str, data: bytes) -> str:
    """Write under a random name; return the storage name."""
    return default_storage.save(f"{prefix}/{uuid.uuid4().hex}{suffix}", ContentFile(data))


def store_png(png_bytes: bytes) -> str:
    return _save("radiographs", ".png", png_bytes)


def store_dicom(dicom_bytes: bytes) -> str:
    return _save("dicom", ".dcm", dicom_bytes)


def store_heatmap(png_bytes: bytes) -> str:
    return _save("heatmaps", ".png", png_bytes)


def delete_stored(name: str) -> None:
    if name:
        default_storage.delete(name)


def read_stored(name: str) -> bytes:
    with default_storage.open(name, "rb") as fh:
        return fh.read()
