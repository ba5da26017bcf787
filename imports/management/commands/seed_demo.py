"""`manage.py seed_demo`: a ready-to-explore install — users of every role, the demo DuckDB
warehouse, its datasource, and a few imports in every status. Safe to run again: it creates
what is missing and changes nothing that exists.
"""

from __future__ import annotations

import json
import secrets
from datetime import time

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from imports import audit
from imports.demo import build_demo_warehouse, seed_run_history
from imports.models import Datasource, Import, Partner
from imports.roles import EDITOR_GROUP, VIEWER_GROUP
from imports.scheduling import next_run_after

DEMO_USERS = [
    # (username, group or None, superuser)
    ("admin", None, True),
    ("editor", EDITOR_GROUP, False),
    ("viewer", VIEWER_GROUP, False),
]
DATASOURCE_NAME = "Demo warehouse (DuckDB)"

PROFILE_MAPPING = {
    "sync_type": "profile",
    "identity_column": "user_id",
    "identity_kind": "identity",
    "event_name_column": None,
    "timestamp_column": None,
    "fields": [
        {"column": "full_name", "target": "Name", "type": "String", "date_format": None},
        {"column": "email", "target": "Email", "type": "String", "date_format": None},
        {"column": "phone", "target": "Phone", "type": "String", "date_format": None},
        {"column": "gender", "target": "Gender", "type": "String", "date_format": None},
        {"column": "dob", "target": "DOB", "type": "Date", "date_format": None},
        {"column": "age", "target": "age", "type": "Integer", "date_format": None},
        {"column": "vip", "target": "vip", "type": "Boolean", "date_format": None},
        {"column": "signup_date", "target": "signup_date", "type": "Date", "date_format": None},
        {"column": "ltv", "target": "ltv", "type": "Float", "date_format": None},
        {"column": "msg_email", "target": "MSG-email", "type": "Boolean", "date_format": None},
        {"column": "msg_sms", "target": "MSG-sms", "type": "Boolean", "date_format": None},
    ],
}
EVENT_MAPPING = {
    "sync_type": "event",
    "identity_column": "user_id",
    "identity_kind": "identity",
    "event_name_column": "event_name",
    "timestamp_column": "event_time",
    "fields": [
        {"column": "amount", "target": "amount", "type": "Float", "date_format": None},
        {"column": "currency", "target": "currency", "type": "String", "date_format": None},
        {"column": "item_count", "target": "item_count", "type": "Integer", "date_format": None},
        {
            "column": "is_first_purchase",
            "target": "is_first_purchase",
            "type": "Boolean",
            "date_format": None,
        },
    ],
}

DEMO_IMPORTS = [
    dict(
        nickname="Daily profile sync",
        sync_type="profile",
        source="profiles",
        status="scheduled",
        schedule_kind="interval",
        interval_every=1,
        interval_unit="days",
    ),
    dict(
        nickname="App events",
        sync_type="event",
        source="events",
        status="scheduled",
        schedule_kind="interval",
        interval_every=15,
        interval_unit="minutes",
        incremental_column="updated_at",
    ),
    dict(
        nickname="VIP CRM sync",
        sync_type="profile",
        source_kind="query",
        source="SELECT * FROM profiles WHERE vip IN ('true', '1')",
        status="paused",
        schedule_kind="custom",
        custom_mode="weekdays",
        custom_days=[0, 3],
        custom_time=time(9, 0),
        schedule_timezone="Asia/Kolkata",
    ),
    dict(
        nickname="Purchases backfill",
        sync_type="event",
        source_kind="query",
        source="SELECT * FROM events WHERE event_name = 'Charged'",
        status="stopped",
        schedule_kind="manual",
    ),
    dict(
        nickname="Manual profile refresh",
        sync_type="profile",
        source="profiles",
        status="scheduled",
        schedule_kind="manual",
    ),
    dict(
        nickname="Marketing consent (draft)",
        sync_type="profile",
        source="profiles",
        status="draft",
        schedule_kind="interval",
        interval_every=6,
        interval_unit="hours",
    ),
]


class Command(BaseCommand):
    help = "Create demo users, the demo DuckDB warehouse, its datasource and a few imports."

    def add_arguments(self, parser):
        parser.add_argument(
            "--quiet-credentials", action="store_true", help="Do not print the demo passwords."
        )
        parser.add_argument(
            "--history-days",
            type=int,
            default=0,
            help="Execute real runs of the demo imports for each of the last N days.",
        )
        parser.add_argument(
            "--background",
            action="store_true",
            help="Hand the history runs to the Celery worker instead of running them here.",
        )

    def handle(self, *args, **options):
        with audit.from_command("seed_demo"):
            self._seed(**options)

    def _seed(self, **options):
        built = build_demo_warehouse(settings.DEMO_WAREHOUSE_PATH)
        self.stdout.write(
            f"Demo warehouse {'written to' if built else 'already at'} "
            f"{settings.DEMO_WAREHOUSE_PATH}"
        )
        with transaction.atomic():
            credentials = self._users()
            datasource = self._datasource(credentials["admin"][0])
            created = self._imports(datasource, credentials["editor"][0])
        self.stdout.write(f"Imports created: {created} (of {len(DEMO_IMPORTS)} demo imports)")
        days = options["history_days"]
        if days and options["background"]:
            from imports.tasks import seed_demo_history

            # `make run` starts serving at once; the worker fills the Stats tab meanwhile.
            transaction.on_commit(lambda: seed_demo_history.delay(datasource.pk, days))
            self.stdout.write(
                f"History: {days} days of real runs queued for the worker; the Stats tab "
                "fills in over the next few minutes."
            )
        elif days:
            runs = seed_run_history(datasource, days)
            self.stdout.write(f"History: {runs} runs over {days} days")
        if not options["quiet_credentials"]:
            self.stdout.write("Sign in with one of these demo users:")
            for username, (_, password) in credentials.items():
                self.stdout.write(f"  {username:<8} password: {password}")

    def _users(self) -> dict[str, tuple[User, str]]:
        # Passwords are generated once per install and kept under var/, so re-running the
        # seed prints the same working credentials instead of resetting them.
        store = settings.VAR_DIR / "secrets" / "demo_users.json"
        store.parent.mkdir(parents=True, exist_ok=True)
        passwords = json.loads(store.read_text()) if store.exists() else {}
        result = {}
        for username, group, superuser in DEMO_USERS:
            password = passwords.setdefault(username, secrets.token_urlsafe(9))
            user = User.objects.filter(username=username).first()
            if user is None:
                user = User.objects.create_user(
                    username=username,
                    password=password,
                    is_superuser=superuser,
                    is_staff=superuser,
                )
                if group:
                    user.groups.add(Group.objects.get(name=group))
            result[username] = (user, password)
        store.write_text(json.dumps(passwords, indent=2))
        store.chmod(0o600)
        return result

    def _datasource(self, owner: User) -> Datasource:
        datasource, _ = Datasource.objects.get_or_create(
            name=DATASOURCE_NAME,
            defaults={
                "partner": Partner.DUCKDB,
                "settings": {"path": str(settings.DEMO_WAREHOUSE_PATH)},
                "created_by": owner,
                "updated_by": owner,
            },
        )
        return datasource

    def _imports(self, datasource: Datasource, owner: User) -> int:
        created = 0
        now = timezone.now()
        for spec in DEMO_IMPORTS:
            if Import.objects.filter(nickname__iexact=spec["nickname"]).exists():
                continue
            mapping = PROFILE_MAPPING if spec["sync_type"] == "profile" else EVENT_MAPPING
            imp = Import(
                datasource=datasource,
                mapping=mapping,
                identity_column=mapping["identity_column"],
                identity_kind=mapping["identity_kind"],
                event_name_column=mapping["event_name_column"] or "",
                timestamp_column=mapping["timestamp_column"] or "",
                created_by=owner,
                updated_by=owner,
                **spec,
            )
            if imp.status == Import.Status.SCHEDULED:
                imp.next_run_at = next_run_after(imp, now)
            imp.save()
            created += 1
        return created
