"""Load the classifier (and the lung model of the quality check) once, as a worker would.

    python manage.py load_model    # prints the serving version and the seconds it took

The first load of the shipped ensemble exports it to ONNX (tens of seconds on two cores, more
under load) into ``INFERENCE_ENGINE_CACHE``; later processes read the export from there in a few
seconds. ``make run`` calls this before the server starts: with tasks run in-process, the first
patient's upload would otherwise wait for that export.
"""

import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from screening import ml


class Command(BaseCommand):
    help = "Load the model once (fills the engine cache) and print its serving version."

    def handle(self, *args, **options):
        started = time.perf_counter()
        try:
            predictor = ml.get_predictor()
        except ml.ModelUnavailable as exc:
            raise CommandError(f"the model could not be loaded: {exc}") from exc
        lungs = ""
        if settings.INFERENCE_LUNG_CHECK:
            try:
                lungs = f", {ml.get_lung_finder().version}"
            except Exception as exc:  # noqa: BLE001 - screenings get "lung check not run"
                self.stderr.write(f"the lung model could not be loaded ({type(exc).__name__})")
        seconds = time.perf_counter() - started
        self.stdout.write(f"model ready: {predictor.serving_version}{lungs} ({seconds:.1f} s)")
