"""The CSV cell format (core.export.cells): formula neutralising and each kind of cell. Pure."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from core.export.cells import (
    CSV_COLUMNS,
    RAW_NAMES,
    TIMESTAMP_NAMES,
    CellFormatter,
    csv_record,
    neutralise,
)
from core.export.stream import iter_csv
from core.query.rows import row_from_mapping
from core.store.types import parse_timestamp
from tests.export.sample import sample_row


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1+2", "'+1+2"),
        ("-cmd", "'-cmd"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tstart", "'\tstart"),
        ("\rstart", "'\rstart"),
        ("  =1+1", "'  =1+1"),
        ("\uff1d1+1", "'\uff1d1+1"),
        ("-0.4", "-0.4"),
        ("+12.5", "+12.5"),
        ("1e-3", "1e-3"),
        ("bert-base", "bert-base"),
        ("", ""),
    ],
)
def test_cells_a_spreadsheet_would_evaluate_are_prefixed_but_numbers_are_not(
    cell: str, expected: str
) -> None:
    assert neutralise(cell) == expected


def test_csv_has_the_table_columns_and_quotes_per_rfc_4180() -> None:
    rows = [sample_row("s1", 'name, with "quotes"', ("quantization", "pruning")), sample_row("=s2", "plain")]
    text = "".join(iter_csv(rows))
    parsed = list(csv.reader(io.StringIO(text)))
    assert parsed[0] == list(CSV_COLUMNS)
    first = dict(zip(CSV_COLUMNS, parsed[1], strict=True))
    assert first["model_name"] == 'name, with "quotes"'
    assert first["techniques"] == "quantization; pruning"
    assert first["accuracy_delta_percent"] == "-0.25"
    assert first["speed_improvement_percent"] == ""
    assert first["duration_seconds"] == "3600.0"
    assert first["created_at"] == "2024-01-01T10:00:00+00:00"
    assert parsed[2][0] == "'=s2"


RAW_ROWS = [
    # session, model, name, status, progress, techniques JSON, metrics x3, created, updated, completed
    (
        "s1",
        "m",
        "n",
        "completed",
        100,
        '["a", "b"]',
        1.23456,
        -0.0,
        None,
        "2024-01-01 10:00:00.000000",
        "2024-01-01 10:00:00.500000",
        "2024-01-01 11:00:00.000001",
    ),
    (
        "=s2",
        "m",
        "x, y",
        "failed",
        12.345,
        "[]",
        float("-inf"),
        1e20,
        0.00004,
        "2024-01-01T10:00:00Z",
        None,
        None,
    ),
    ("s3", "m", "n", "running", None, "not json", float("nan"), -1.5, 3, None, "garbage", None),
]


@pytest.mark.parametrize("raw", RAW_ROWS)
def test_batched_cells_are_the_reference_record_of_the_same_row(raw: tuple[object, ...]) -> None:
    names = (*RAW_NAMES, *TIMESTAMP_NAMES)
    mapping: dict[str, Any] = {**dict(zip(names, raw, strict=True)), "model_known": True, "data_issue": 0}
    for name in TIMESTAMP_NAMES:
        mapping[name] = parse_timestamp(mapping[name])
    (batched,), plain = CellFormatter().rows([raw])
    assert list(batched) == csv_record(row_from_mapping(mapping))
    assert plain == ("," not in "".join(batched))
