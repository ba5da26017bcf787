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


# The template loop that `record_rows` replaces, kept here as the reference markup.
RECORD_LOOP = """{% load stats_tags %}{% for rec in records %}
      <tr>
        <td class="num">{{ rec.row_number }}</td>
        <td>{% if rec.success %}<span class="badge health-green">Success</span>{% else %}<span class="badge health-red">Failed</span>{% endif %}</td>
        <td class="identity">{{ rec.identity|default:"(blank)" }}</td>
        {% if show_event %}<td>{{ rec.event_name|default:"—" }}</td>{% endif %}
        <td>{% if rec.errors %}<ul class="record-errors">{% for err in rec.errors %}<li><code>{{ err.field }}</code>: <span class="error-message">{{ err.message }}</span><div class="help">{{ err.code|resolution }}</div></li>{% endfor %}</ul>{% else %}—{% endif %}</td>
      </tr>
    {% endfor %}"""  # noqa: E501


@pytest.mark.parametrize("show_event", [True, False])
def test_record_rows_match_the_template_loop(show_event):
    from types import SimpleNamespace

    from django.template import Context, Template

    from stats.templatetags.stats_tags import record_rows

    email = {"field": "e<mail>", "code": "invalid_email", "message": "Email is not valid"}
    records = [
        SimpleNamespace(
            row_number=1, success=True, identity="u1", event_name="App & co", errors=[]
        ),
        SimpleNamespace(
            row_number=12345, success=False, identity="", event_name="", errors=[email]
        ),
        SimpleNamespace(
            row_number=7,
            success=False,
            identity='"quoted" <id>',
            event_name=None,
            errors=[email, {"field": "phone", "code": "unknown_code"}, {"message": "no field"}],
        ),
    ]
    expected = Template(RECORD_LOOP).render(Context({"records": records, "show_event": show_event}))
    assert str(record_rows(records, show_event)) == expected
    # The dry run's word for an empty value: one word for it across the app.
    assert '<td class="identity">(blank)</td>' in expected
