"""The incremental watermark: the largest value of the column among the rows read."""

from __future__ import annotations

from datetime import UTC, datetime

from imports.pipeline import _track_watermark

T1 = datetime(2024, 1, 1, tzinfo=UTC)
T2 = datetime(2024, 6, 1, tzinfo=UTC)


def watermark(batches, column="ts"):
    tracked = _track_watermark(batches, column)
    passed = [row for batch in tracked for row in batch]
    assert passed == [row for batch in batches for row in batch]  # every row goes through
    return tracked.watermark


def test_the_largest_value_across_batches_nulls_ignored():
    assert watermark([[{"ts": T1}, {"ts": None}], [{"ts": T2}, {}]]) == T2


def test_a_date_kept_as_text_beside_real_dates_moves_no_watermark():
    # 'infinity' or year 10000 arrive as text (they fail their record); comparing them with
    # datetimes used to fail the whole run with a TypeError.
    batches = [[{"ts": T1}, {"ts": "infinity"}], [{"ts": "10000-01-01 00:00:00"}, {"ts": T2}]]
    assert watermark(batches) == T2


def test_a_text_column_keeps_its_text_watermark():
    assert watermark([[{"ts": "2024-01-02"}, {"ts": "2024-01-10"}]]) == "2024-01-10"
