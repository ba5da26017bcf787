"""`manage.py run_import <nickname|code> [--wait]`: trigger a run now, like the Run now button.

With `--wait` it prints progress until the run ends and exits non-zero when it failed.
"""

from __future__ import annotations

import time
import uuid

from django.core.management.base import BaseCommand, CommandError

from imports import services
from imports.models import Import, ImportRun


def find_import(ref: str) -> Import:
    try:
        return Import.objects.get(code=uuid.UUID(ref))
    except (ValueError, Import.DoesNotExist):
        pass
    try:
        return Import.objects.get(nickname__iexact=ref)
    except Import.DoesNotExist:
        raise CommandError(f"No import with nickname or code {ref!r}.") from None


class Command(BaseCommand):
    help = "Run an import now (by nickname or code); --wait follows it to the end."

    def add_arguments(self, parser):
        parser.add_argument("ref", help="The import's nickname or code.")
        parser.add_argument("--wait", action="store_true", help="Wait for the run to end.")
        parser.add_argument("--timeout", type=float, default=3600, help="Seconds to wait.")

    def handle(self, *args, ref: str, wait: bool, timeout: float, **options):
        imp = find_import(ref)
        try:
            run = services.run_now(imp)
        except services.ActionRefused as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Run {run.code} of {imp.nickname} queued.")
        if not wait:
            return
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            run.refresh_from_db()
            line = f"{run.state}: {run.total}/{run.expected_total or '?'} records"
            if line != last:
                self.stdout.write(line)
                last = line
            if run.state in ImportRun.FINISHED_STATES:
                break
            time.sleep(1)
        else:
            raise CommandError(f"Run {run.code} still {run.state} after {timeout:.0f} s.")
        self.stdout.write(
            f"{run.get_state_display()}: {run.successful} successful, {run.failed} failed, "
            f"health {run.health.label}."
        )
        if run.state != ImportRun.State.COMPLETED:
            raise CommandError(run.error or f"The run ended {run.state}.")
