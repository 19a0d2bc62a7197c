"""Django project package of the chest X-ray screening portal."""

from .celery import app as celery_app

__all__ = ("celery_app",)
