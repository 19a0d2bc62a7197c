"""Storage for uploaded radiographs: a plain file system directory that is never URL-served."""

from django.core.files.storage import FileSystemStorage


class PrivateFileSystemStorage(FileSystemStorage):
    """``MEDIA_ROOT`` storage without URLs: images are only streamed by access-checked views."""

    def url(self, name: str | None) -> str:
        raise ValueError("Uploaded images are private and have no URL; use the clinician view.")
