"""Streaming CSV (core.export.stream): chunks and the header. Pure."""

from __future__ import annotations

from core.export.cells import CSV_COLUMNS
from core.export.stream import iter_csv
from tests.export.sample import sample_row


def test_csv_is_produced_in_bounded_chunks() -> None:
    chunks = list(iter_csv((sample_row(f"s{i}", "m") for i in range(25)), chunk_rows=10))
    assert len(chunks) == 3
    assert sum(chunk.count("\r\n") for chunk in chunks) == 26


def test_an_empty_export_still_has_its_header() -> None:
    assert "".join(iter_csv([])) == ",".join(CSV_COLUMNS) + "\r\n"
