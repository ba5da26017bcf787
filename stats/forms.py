"""The detail pane's query-string form: an invalid filter or cursor answers a styled 400.
(The Stats tab's `?page=` needs none: `queries.runs_page` reads it as Django's paginator does.)
"""

from __future__ import annotations

from django import forms
from django.core.validators import RegexValidator

from stats.queries import RecordFilters

# Codes are snake_case identifiers; a field is a source column name. Neither may contain the
# separators of `RecordResult.error_keys` ("|field:code|"), or a filter could match across keys.
_code = RegexValidator(r"^[a-z][a-z0-9_]*$", "Unknown error code.")
_no_separators = RegexValidator(r"^[^|]*$", "A field name cannot contain “|”.")


class RecordFilterForm(forms.Form):
    RESULT_CHOICES = [("failed", "Failed"), ("success", "Success"), ("all", "All")]

    result = forms.ChoiceField(choices=RESULT_CHOICES, required=False)
    code = forms.CharField(required=False, max_length=40, validators=[_code])
    field = forms.CharField(required=False, max_length=255, validators=[_no_separators])
    q = forms.CharField(
        required=False,
        max_length=1100,
        label="Identity",
        error_messages={
            "max_length": (
                "This search is too long: an identity search takes at most %(limit_value)s"
                " characters (this one has %(show_value)s). Enter one exact identity."
            )
        },
    )
    after = forms.IntegerField(required=False, min_value=0, max_value=2**31 - 1)

    def filters(self, default_result: str) -> RecordFilters:
        data = self.cleaned_data
        return RecordFilters(
            result=data.get("result") or default_result,
            code=data.get("code") or "",
            field=data.get("field") or "",
            q=(data.get("q") or "").strip(),
            after=data.get("after") or 0,
        )
