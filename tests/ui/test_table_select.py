"""The grid's selection rules: ticks follow their sessions, when a detail opens, the compare bar."""

from __future__ import annotations

from ui import table_select


def test_ticked_ids_are_kept_by_session_when_rows_move() -> None:
    shown = ["a", "b", "c", "d"]
    assert table_select.ticked_ids([1, 3], shown, shown) == ("b", "d")
    # a new session on top pushed every row down; "d" left the page
    assert table_select.ticked_ids([3, 1], shown, ["new", "a", "b", "c"]) == ("b",)
    assert table_select.ticked_ids([9], shown, shown) == ()
    assert table_select.detail_to_open((), ("b",)) == "b"
    assert table_select.detail_to_open(("b", "c"), ("b",)) is None
    assert table_select.detail_to_open(("b",), ("b",)) is None
    assert table_select.detail_to_open((), ("b", "c")) is None
    assert [table_select.compare_bar(n).enabled for n in range(8)] == [
        False,
        False,
        True,
        True,
        True,
        True,
        False,
        False,
    ]
