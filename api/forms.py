"""The token page's form: a name, read-only or read-write, and an optional expiry date."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django import forms
from django.utils import timezone

from api.models import ApiToken

# Far enough for a yearly rotation with slack; a date beyond is more likely a typo.
MAX_EXPIRY_DAYS = 3 * 366


class TokenForm(forms.Form):
    name = forms.CharField(
        max_length=100, help_text="What it is for, e.g. “Airflow: nightly profiles DAG”."
    )
    access = forms.ChoiceField(
        choices=ApiToken.Access.choices,
        initial=ApiToken.Access.READ_ONLY,
        widget=forms.RadioSelect,
        help_text="A token acts with your role: a Viewer's token cannot trigger runs either way.",
    )
    expires_on = forms.DateField(
        required=False,
        label="Expires on",
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Optional: the token stops working at the end of this day (your time zone).",
    )

    def clean_expires_on(self):
        day = self.cleaned_data.get("expires_on")
        if day is None:
            return None
        today = timezone.localdate()
        if day < today:
            raise forms.ValidationError("Pick today or a later day.")
        if day > today + timedelta(days=MAX_EXPIRY_DAYS):
            raise forms.ValidationError("Pick a day within three years.")
        return day

    def expires_at(self) -> datetime | None:
        day = self.cleaned_data.get("expires_on")
        if day is None:
            return None
        return timezone.make_aware(datetime.combine(day, time.max))
