"""compute_health, exactly as DESIGN.md "Health" defines it."""

import pytest

from validation import compute_health
from validation.health import BLANK, GREEN, NONE, RED, YELLOW


@pytest.mark.parametrize(
    ("total", "successful", "band", "label"),
    [
        (10, 10, GREEN, "100%"),
        (1, 1, GREEN, "100%"),
        (100_000, 99_999, YELLOW, "99.99%"),  # 99.999 is truncated, never rounded up to 100
        (3, 2, YELLOW, "66.66%"),  # 66.666... truncated, not 66.67
        (100, 50, YELLOW, "50.00%"),  # 50 is the lowest yellow
        (10_000, 5_000, YELLOW, "50.00%"),
        (10_000, 4_999, RED, "49.99%"),
        (100_000, 49_999, RED, "49.99%"),
        (3, 1, RED, "33.33%"),
        (10, 0, RED, "0.00%"),
        (0, 0, BLANK, "Blank"),  # no record qualified, or the credentials failed
        (None, None, NONE, "No indicator"),  # no completed run yet
    ],
)
def test_health_band_and_label(total, successful, band, label):
    health = compute_health(total, successful)
    assert (health.band, health.label) == (band, label)


def test_green_only_when_nothing_failed():
    assert compute_health(1_000_000, 999_999).band == YELLOW
    assert compute_health(1_000_000, 1_000_000).band == GREEN


def test_blank_and_no_indicator_carry_no_percentage():
    assert compute_health(0, 0).percent is None
    assert compute_health(None, 5).percent is None
    assert compute_health(4, 3).percent == 75.0


def test_descriptions_are_the_reference_tooltips():
    assert compute_health(5, 5).description == "All records processed successfully without errors."
    assert compute_health(None, None).description == (
        "The first run for this import has not yet completed."
    )
