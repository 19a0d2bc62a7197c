"""Object storage for deployments with several hosts (web and workers on different machines).

``STORAGE_BACKEND=s3`` keeps radiographs, de-identified DICOMs and heatmaps in an S3-compatible
bucket (AWS S3, MinIO, Ceph RGW, ...) through django-storages instead of ``MEDIA_ROOT``; every
process reads and writes the same objects. As with the file system: private objects, no URLs
(never a presigned link), streamed only by the access-checked clinician views.
"""

from __future__ import annotations

from storages.backends.s3 import S3Storage


class PrivateS3Storage(S3Storage):
    default_acl = "private"
    querystring_auth = False
    file_overwrite = False  # names are random anyway; never replace an existing object

    def url(self, name: str | None, parameters=None, expire=None, http_method=None) -> str:
        raise ValueError("Uploaded images are private and have no URL; use the clinician view.")
