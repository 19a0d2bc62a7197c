"""``manage.py api_token create <username> --name NAME [--days N]`` / ``revoke <key prefix>``."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from portal.security.tokens import api_token_create, api_token_revoke


class Command(BaseCommand):
    help = "Create (prints the key once) or revoke a named, expiring, hashed API token."

    def add_arguments(self, parser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create")
        create.add_argument("username")
        create.add_argument("--name", required=True, help="The integration, e.g. 'ris-north'.")
        create.add_argument("--days", type=int, default=None, help="Lifetime (0: no expiry).")
        revoke = sub.add_parser("revoke")
        revoke.add_argument("key", help="The key, or its first 15 characters.")

    def handle(self, *args, **options) -> None:
        if options["action"] == "create":
            user = get_user_model().objects.filter(username=options["username"]).first()
            if user is None:
                raise CommandError(f"No user {options['username']!r}.")
            token, key = api_token_create(user=user, name=options["name"], days=options["days"])
            expiry = token.expiry.isoformat() if token.expiry else "never"
            self.stdout.write(f"{key}\n(name {token.name}, expires {expiry}; shown once)")
        else:
            if not api_token_revoke(token_key=options["key"]):
                raise CommandError("No such token.")
            self.stdout.write("Revoked.")
