"""The Stats rows' Python-built dates and numbers match Django's own formatting."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from django.contrib.humanize.templatetags.humanize import intcomma
from django.utils import dateformat, timezone, translation

from stats.templatetags.stats_tags import _RowKit, _thousands

NUMBERS = [0, 7, -7, 999, 1000, -1000, 12345, 999_999, 1_000_000, -123_456_789, 10**15 + 1]


@pytest.mark.parametrize("language", ["en-us", "de", "fr"])
def test_thousands_is_intcomma_in_every_locale(language):
    with translation.override(language):
        formatted = _thousands()
        assert [formatted(n) for n in NUMBERS] == [intcomma(n) for n in NUMBERS]


@pytest.mark.parametrize("language", ["en-us", "de"])
@pytest.mark.parametrize("zone", ["UTC", "Asia/Kolkata", "America/St_Johns"])
def test_row_date_label_is_dateformat(language, zone):
    moments = [
        datetime(2025, month, 3 + month, 23, 4 * month, tzinfo=UTC) for month in range(1, 13)
    ]
    with translation.override(language), timezone.override(ZoneInfo(zone)):
        kit = _RowKit()
        for moment in moments:
            local = timezone.localtime(moment)
            assert kit.label(local) == dateformat.format(local, "j M Y H:i")
