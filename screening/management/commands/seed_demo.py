"""Demo data: two provinces with two districts each, one clinician per district, an admin.

Idempotent. Passwords come from ``DEMO_PASSWORD`` or are generated and printed once, when the
account is created; later runs never change or print them.
"""

import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from screening.models import ClinicianProfile, Region

PROVINCES = [
    (
        "NORTH",
        "Northern Province",
        [("NORTH-01", "Riverside District"), ("NORTH-02", "Highland District")],
    ),
    (
        "SOUTH",
        "Southern Province",
        [("SOUTH-01", "Coastal District"), ("SOUTH-02", "Valley District")],
    ),
]


class Command(BaseCommand):
    help = "Create demo regions, one clinician per district and an admin (idempotent)."

    def handle(self, *args, **options) -> None:
        User = get_user_model()
        env_password = os.environ.get("DEMO_PASSWORD") or None
        created_accounts: list[tuple[str, str]] = []

        def password() -> str:
            return env_password or secrets.token_urlsafe(12)

        with transaction.atomic():
            for code, name, districts in PROVINCES:
                province, _ = Region.objects.get_or_create(code=code, defaults={"name": name})
                for d_code, d_name in districts:
                    district, _ = Region.objects.get_or_create(
                        code=d_code, defaults={"name": d_name, "parent": province}
                    )
                    username = "clinician." + d_code.lower().replace("-", "")
                    user = User.objects.filter(username=username).first()
                    if user is None:
                        pw = password()
                        user = User.objects.create_user(
                            username=username,
                            password=pw,
                            first_name="Demo",
                            last_name=f"Clinician {d_code}",
                        )
                        created_accounts.append((username, pw))
                    profile, _ = ClinicianProfile.objects.get_or_create(user=user)
                    profile.regions.add(district)

            if not User.objects.filter(username="admin").exists():
                pw = password()
                User.objects.create_superuser(username="admin", email="", password=pw)
                created_accounts.append(("admin", pw))

        regions = Region.objects.count()
        self.stdout.write(f"Demo data ready: {regions} regions.")
        if created_accounts:
            self.stdout.write("Accounts created (passwords are shown only this once):")
            for username, pw in created_accounts:
                shown = "(from DEMO_PASSWORD)" if env_password else pw
                self.stdout.write(f"  {username:<20} {shown}")
        else:
            self.stdout.write("Demo accounts already exist; passwords unchanged.")
