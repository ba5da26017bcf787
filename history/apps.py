from django.apps import AppConfig


class HistoryConfig(AppConfig):
    """The change history: what is recorded (here), and its pages (views.py)."""

    name = "history"
    verbose_name = "Change history"

    def ready(self) -> None:
        from auditlog.registry import auditlog

        from alerts.models import AlertDefaults, Channel, ImportAlerts, Rules
        from api.models import ApiToken
        from history.changes import TRACKED_IMPORT_FIELDS
        from imports.models import Datasource, Import

        # Only what a person changes: run bookkeeping (next run, health, watermark, the run in
        # progress) moves on its own and would bury the changes under noise.
        auditlog.register(Import, include_fields=TRACKED_IMPORT_FIELDS)
        # The secret is recorded only as set, changed or removed (`secret_state`), never its
        # token; `Datasource.set_secret` keeps the token when the secret is the same.
        auditlog.register(
            Datasource,
            include_fields=["name", "partner", "settings", "secret_encrypted"],
            mask_fields=["secret_encrypted"],
            mask_callable="history.apps.secret_state",
        )
        # The hash is never recorded; last use moves on every request.
        auditlog.register(
            ApiToken, include_fields=["name", "user", "access", "expires_at", "revoked_at"]
        )
        # Alert rules and channels: what an Editor sets. Evaluation bookkeeping
        # (`evaluated_since`) and the `updated_*` stamps move on their own.
        rules = [*Rules.RULE_FIELDS]
        auditlog.register(AlertDefaults, include_fields=rules)
        auditlog.register(
            ImportAlerts,
            include_fields=[*rules, "follows_defaults", "muted_until"],
            m2m_fields={"channels"},
        )
        auditlog.register(
            Channel,
            include_fields=[
                "name",
                "kind",
                "email_to",
                "secret_encrypted",
                "run_events",
                "run_event_imports",
            ],
            mask_fields=["secret_encrypted"],
            mask_callable="history.apps.secret_state",
        )


def secret_state(value: str) -> str:
    """What the log keeps of a secret's token: whether there was one ("set") or not ("")."""
    return "" if value in ("", "None") else "set"
