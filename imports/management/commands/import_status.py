"""`manage.py import_status`: every import with its status, next run, health and current run."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from imports.models import Import


class Command(BaseCommand):
    help = "List imports with status, next run, health and the run in progress."

    def handle(self, *args, **options):
        imports = Import.objects.select_related("datasource", "current_run", "health_run")
        rows = [("NICKNAME", "STATUS", "NEXT RUN (UTC)", "HEALTH", "IN PROGRESS")]
        for imp in imports.order_by("nickname"):
            run = imp.current_run
            progress = f"{run.state} {run.total}/{run.expected_total or '?'}" if run else ""
            next_at = imp.next_run_at.strftime("%Y-%m-%d %H:%M") if imp.next_run_at else "-"
            rows.append(
                (imp.nickname, imp.get_status_display(), next_at, imp.health.label, progress)
            )
        widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
        for row in rows:
            self.stdout.write("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)))
