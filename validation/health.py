"""The health of a run, exactly as DESIGN.md "Health" defines it.

Pure and Django-free: the web pages, the run engine and the validation CLI all call
`compute_health`, so a number shown anywhere is computed in one place.
"""

from __future__ import annotations

from dataclasses import dataclass

GREEN, YELLOW, RED, BLANK, NONE = "green", "yellow", "red", "blank", "none"

# Tooltips come from the reference's Health Indicator table, word for word.
DESCRIPTIONS = {
    GREEN: "All records processed successfully without errors.",
    YELLOW: (
        "Some records failed during processing. Review failed records in the detail pane "
        "to identify the affected fields."
    ),
    RED: (
        "A majority of records failed to process. Review your data selection and field "
        "mappings for potential issues."
    ),
    BLANK: (
        "No data was processed. This may occur if no records qualified for the run or if "
        "the data warehouse credentials are invalid or have changed."
    ),
    NONE: "The first run for this import has not yet completed.",
}


@dataclass(frozen=True, slots=True)
class Health:
    band: str  # one of GREEN, YELLOW, RED, BLANK, NONE
    label: str  # "100%", "99.99%", "Blank" or "No indicator"
    hundredths: int | None  # percentage x 100, truncated; None for blank / no indicator

    @property
    def percent(self) -> float | None:
        return None if self.hundredths is None else self.hundredths / 100

    @property
    def description(self) -> str:
        return DESCRIPTIONS[self.band]


NO_INDICATOR = Health(NONE, "No indicator", None)
BLANK_HEALTH = Health(BLANK, "Blank", None)


def compute_health(total: int | None, successful: int | None) -> Health:
    """Health of one finished run from its counters.

    `total` None means the run has not finished (no indicator). Integer arithmetic only:
    the percentage is truncated to two decimals, never rounded up, so 99.999% reads
    "99.99%" and stays Yellow.
    """
    if total is None:
        return NO_INDICATOR
    if total <= 0:
        return BLANK_HEALTH
    successful = max(0, min(successful or 0, total))
    if successful == total:
        return Health(GREEN, "100%", 10000)
    hundredths = successful * 10000 // total
    label = f"{hundredths // 100}.{hundredths % 100:02d}%"
    band = YELLOW if hundredths >= 5000 else RED
    return Health(band, label, hundredths)
