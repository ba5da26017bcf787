"""The listing's Python-built markup matches what the shared template tags render."""

from __future__ import annotations

import pytest
from django.template import Context, Template

from imports.filters import ImportFilter
from imports.models import Import
from imports.templatetags.listing_tags import fast_format, fast_health_badge, filter_select
from validation.health import compute_health


@pytest.mark.parametrize(
    ("total", "successful"), [(None, None), (0, 0), (100, 100), (100, 75), (100, 10)]
)
@pytest.mark.parametrize("show_blank_text", [True, False])
def test_fast_health_badge_is_the_shared_badge(total, successful, show_blank_text):
    health = compute_health(total, successful)
    shared = Template("{% load imports_tags %}{% health_badge h blank %}").render(
        Context({"h": health, "blank": show_blank_text})
    )
    # The inclusion template ends with a newline; the markup is otherwise identical.
    assert str(fast_health_badge(health, show_blank_text)) == shared.rstrip("\n")


def test_fast_format_escapes_like_format_html():
    html = fast_format('<a title="{}">{}</a>', 'say "<hi>" & go', fast_format("<b>{}</b>", "<x>"))
    assert html == '<a title="say &quot;&lt;hi&gt;&quot; &amp; go"><b>&lt;x&gt;</b></a>'


@pytest.mark.django_db
def test_filter_select_marks_the_current_choice_and_escapes_labels():
    form = ImportFilter({"status": "paused"}, queryset=Import.objects.all()).form
    html = str(filter_select(form["status"], [("", "All <statuses>"), *Import.Status.choices]))
    assert html.startswith('<select name="status" id="id_status">')
    assert '<option value="paused" selected>Paused</option>' in html
    assert '<option value="draft">Draft</option>' in html
    assert "All &lt;statuses&gt;" in html
    assert html.count(" selected") == 1
