"""`manage.py create_api_token USERNAME --name NAME [--read-only] [--expires-days N]`: a new
API token for automation, printed once, alone on the last line (`| tail -n 1` takes it)."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from api import tokens
from imports import audit
from imports.roles import can_view


class Command(BaseCommand):
    help = "Create an API token for a user and print it once (on the last line)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", required=True, help="What the token is for.")
        parser.add_argument("--read-only", action="store_true", help="Reads only.")
        parser.add_argument(
            "--expires-days", type=int, default=None, help="Expire after N days (default never)."
        )

    def handle(self, *args, username: str, name: str, read_only: bool, expires_days, **options):
        name = name.strip()
        if not name or len(name) > 100:
            raise CommandError("--name must be 1 to 100 characters.")
        if expires_days is not None and expires_days < 1:
            raise CommandError("--expires-days must be at least 1.")
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        if not user.is_active:
            raise CommandError(f"{username!r} is inactive: its tokens would not work.")
        expires_at = timezone.now() + timedelta(days=expires_days) if expires_days else None
        with audit.from_command("create_api_token"):
            row, token = tokens.issue_token(user, name, read_only=read_only, expires_at=expires_at)
        if not can_view(user):
            self.stderr.write(
                f"Warning: {username!r} has no role (Viewer or Editor): the token is refused "
                "until the user gets one."
            )
        access = row.get_access_display().lower()
        expiry = f"expires {expires_at:%Y-%m-%d %H:%M} UTC" if expires_at else "never expires"
        self.stdout.write(f"Created {access} token “{name}” for {username} ({expiry}).")
        self.stdout.write(token)
