"""The PostgreSQL COPY export's Python side (core.export.copy): raw rows and COPY blocks. Pure."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest

from core.export.stream import iter_csv


def test_raw_values_from_copy_become_the_reference_row() -> None:
    """A row the server leaves to Python: COPY doubled its backslashes; NaN and infinities come
    as strings, timestamps as naive ISO text (UTC)."""
    import json

    from core.export.copy import row_from_json

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
    row = row_from_json(json.dumps(values).replace("\\", "\\\\") + "\n")  # as COPY sends it
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
    from core.export.copy import copy_block

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
    got = copy_block(bytearray(b"".join(rows)), "utf-8", writer, buffer)

    from core.export.copy import row_from_json

    expected = "".join(
        "".join(iter_csv([row_from_json(row.decode())])).split("\r\n", 1)[1]
        if row[:1] == b"["
        else row.decode().replace("\n", "\r\n")
        for row in rows
    )
    assert got == expected
    assert got.count("\r\n") == len(rows)
    if raw[1] in rows:
        assert '"two\nlines"' in got
