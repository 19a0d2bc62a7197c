"""``manage.py revoke_patient_link CXR-XXXX-XXXX``: the patient's status link stops working."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from portal.audit.services import audit_record
from portal.security.patient_access import patient_token_revoke


class Command(BaseCommand):
    help = "Revoke a screening's patient status link (e.g. it was sent to the wrong person)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("reference")

    def handle(self, *args, reference: str, **options) -> None:
        from screening.models import Screening

        screening = Screening.objects.filter(reference=reference).first()
        if screening is None:
            raise CommandError(f"No screening {reference}.")
        revoked = patient_token_revoke(screening_id=screening.pk)
        audit_record(
            action="patient.link_revoke",
            role="operator",
            object_type="screening",
            object_ref=reference,
        )
        self.stdout.write("Revoked." if revoked else "Already revoked.")
