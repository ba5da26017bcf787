from django.apps import AppConfig


class ImportsConfig(AppConfig):
    name = "imports"
    verbose_name = "Imports"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from imports.dbtypes import register_clamping_loader

        connection_created.connect(register_clamping_loader, dispatch_uid="imports-clamping-tz")
