"""CSV export: formula neutralising, RFC 4180 quoting, chunking and file names. Pure."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

import pytest

from core.export.csv_stream import CSV_COLUMNS, export_filename, iter_csv, neutralise
from core.query.filter import SessionFilter
from core.query.sessions import SessionRow


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


def _row(session_id: str, model_name: str, techniques: tuple[str, ...] = ()) -> SessionRow:
    created = datetime(2024, 1, 1, 10, tzinfo=UTC)
    return SessionRow(
        session_id=session_id,
        model_id="m1",
        model_name=model_name,
        status="completed",
        progress_percentage=100.0,
        techniques=techniques,
        size_reduction_percent=42.5,
        speed_improvement_percent=None,
        accuracy_delta_percent=-0.25,
        created_at=created,
        updated_at=created,
        completed_at=datetime(2024, 1, 1, 11, tzinfo=UTC),
        model_known=True,
        has_data_issue=False,
    )


def test_csv_has_the_table_columns_and_quotes_per_rfc_4180() -> None:
    rows = [_row("s1", 'name, with "quotes"', ("quantization", "pruning")), _row("=s2", "plain")]
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


def test_csv_is_produced_in_bounded_chunks() -> None:
    chunks = list(iter_csv((_row(f"s{i}", "m") for i in range(25)), chunk_rows=10))
    assert len(chunks) == 3
    assert sum(chunk.count("\r\n") for chunk in chunks) == 26


def test_an_empty_export_still_has_its_header() -> None:
    assert "".join(iter_csv([])) == ",".join(CSV_COLUMNS) + "\r\n"


def test_file_name_carries_the_date_and_the_main_filters() -> None:
    f = SessionFilter(
        statuses=("failed",),
        model_ids=("mdl-0001",),
        start_date="2024-01-01",
        end_date="2024-01-31",
        search="bert/../x",
    )
    name = export_filename(f, date(2026, 11, 25))
    assert name == (
        "sessions_2026-11-25_status-failed_model-mdl-0001_2024-01-01_to_2024-01-31_q-bert-..-x.csv"
    )
    assert export_filename(SessionFilter(), date(2026, 11, 25)) == "sessions_2026-11-25.csv"


def test_raw_values_from_copy_become_the_reference_row() -> None:
    """A row the server leaves to Python: COPY doubled its backslashes; NaN and infinities come
    as strings, timestamps as naive ISO text (UTC)."""
    import json

    from core.export.csv_stream import _row_from_json

    values = [
        "a\\b",
        "m",
        "=name",
        "failed",
        12.5,
        json.dumps(["x\\y", 7]),
        "NaN",
        "-Infinity",
        1e300,
        "2024-01-02T00:00:39.106766",
        "2024-01-02T00:00:40",
        None,
    ]
    row = _row_from_json(json.dumps(values).replace("\\", "\\\\") + "\n")  # as COPY sends it
    assert row.session_id == "a\\b"
    assert row.techniques == ("x\\y",)
    assert row.progress_percentage == 12.5
    assert row.size_reduction_percent != row.size_reduction_percent  # NaN
    assert row.speed_improvement_percent == float("-inf")
    assert row.accuracy_delta_percent == 1e300
    assert row.created_at == datetime(2024, 1, 2, 0, 0, 39, 106766, tzinfo=UTC)
    assert row.updated_at == datetime(2024, 1, 2, 0, 0, 40, tzinfo=UTC)
    assert row.completed_at is None
    cells = "".join(iter_csv([row])).split("\r\n")[1]
    assert cells == (
        "a\\b,m,'=name,failed,12.5,x\\y,nan,'-inf,1e+300,,2024-01-02T00:00:39.106766+00:00,"
        "2024-01-02T00:00:40+00:00,"
    )


def _raw_row(session_id: str, model_name: str) -> bytes:
    import json

    values = [
        session_id,
        "m",
        model_name,
        "failed",
        12.5,
        '["pruning"]',
        None,
        None,
        None,
        "2024-01-02T00:00:39.106766",
        "2024-01-02T00:00:40",
        None,
    ]
    return json.dumps(values).replace("\\", "\\\\").encode() + b"\n"  # as COPY sends it


@pytest.mark.parametrize("layout", ["lines", "raw first", "raw last", "raw only", "raw in a row", "mixed"])
def test_copy_blocks_turn_lines_and_raw_rows_into_the_csv_rows_in_their_order(layout: str) -> None:
    """A COPY block holds proven lines and, about one row in a hundred, raw values Python must
    write: every row comes out once, in place, lines with CRLF, a raw row's embedded newline
    (quoted) untouched."""
    from core.export.csv_stream import _copy_block

    line = [b"s%d,m,name,completed,100.0,pruning,1.0,2.0,,1.5,a,b,c\n" % i for i in range(3)]
    raw = [_raw_row("r1", "plain"), _raw_row("r2", "two\nlines"), _raw_row("r3", "=x")]
    rows = {
        "lines": line,
        "raw first": [raw[0], *line],
        "raw last": [*line, raw[1]],
        "raw only": raw,
        "raw in a row": [line[0], raw[0], raw[1], line[1]],
        "mixed": [raw[2], line[0], raw[1], line[1], raw[0], line[2], raw[1]],
    }[layout]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    got = _copy_block(bytearray(b"".join(rows)), "utf-8", writer, buffer)

    from core.export.csv_stream import _row_from_json

    expected = "".join(
        "".join(iter_csv([_row_from_json(row.decode())])).split("\r\n", 1)[1]
        if row[:1] == b"["
        else row.decode().replace("\n", "\r\n")
        for row in rows
    )
    assert got == expected
    assert got.count("\r\n") == len(rows)
    if raw[1] in rows:
        assert '"two\nlines"' in got
