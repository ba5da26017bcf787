"""The History pages' query string: anything invalid answers 400."""

from __future__ import annotations

from django import forms


class HistoryPageForm(forms.Form):
    # The newest entry to show (a page starts at it): the Stats marks link to a change this way.
    upto = forms.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
