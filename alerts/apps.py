from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "alerts"
    verbose_name = "Alerts"

    def ready(self) -> None:
        from alerts.tasks import on_run_ended
        from imports.signals import run_ended

        run_ended.connect(on_run_ended, dispatch_uid="alerts-run-ended")
