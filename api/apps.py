from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = "HTTP API"

    def ready(self) -> None:
        from django.db.models.signals import post_delete

        from alerts.delivery import delivery_attempted
        from api import metrics
        from imports.models import Import
        from imports.signals import run_ended

        # Counters of /metrics grow when a run ends (see metrics.py for why they are stored).
        run_ended.connect(metrics.count_ended_run, dispatch_uid="api-metrics-run-ended")
        delivery_attempted.connect(
            metrics.count_webhook_delivery, dispatch_uid="api-metrics-webhook-delivery"
        )
        post_delete.connect(
            metrics.forget_import, sender=Import, dispatch_uid="api-metrics-import-deleted"
        )
