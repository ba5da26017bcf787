from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "alerts"
    verbose_name = "Alerts"

    def ready(self) -> None:
        from alerts import runevents
        from alerts.tasks import on_run_ended
        from imports.signals import run_ended, run_started

        run_ended.connect(on_run_ended, dispatch_uid="alerts-run-ended")
        # Run-lifecycle webhooks: recorded and queued after the run's commit, never in its way.
        run_started.connect(runevents.on_run_started, dispatch_uid="alerts-run-event-started")
        run_ended.connect(runevents.on_run_ended, dispatch_uid="alerts-run-event-ended")
