"""The value bins of the rollup histograms: which bins hold a quantile, and their values.

A bin is the integer part of a metric value (:func:`core.speed.rollup_triggers.value_bin`, as the
database computes it on each backend). :func:`walk_bins` finds the bins holding the wanted
positions from the running counts; :func:`bin_values` reads only those bins' values.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from datetime import date
from typing import Any

from sqlalchemy import (
    BigInteger,
    Float,
    Integer,
    Text,
    and_,
    bindparam,
    cast,
    func,
    literal_column,
    or_,
    select,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import Select

from core.calendar import Granularity
from core.speed import tables as copy
from core.speed.capabilities import Capabilities

_EXACT_BINS = 2.0**52  # below it, bin - 1 and bin + 1 are exact doubles: an index range holds a bin


_INT64_MAX = 2**63 - 1


def walk_bins(
    connection: Connection,
    caps: Capabilities,
    hist: Select[Any] | None,
    edge_bins: dict[tuple[str, float], int],
    qs: tuple[float, ...],
    *,
    unique: bool,
) -> list[tuple[Any, Any, Any, Any, Any]]:
    """(key, bin, sessions, sessions through it, in all) of the bins holding the quantiles.

    The running count per key is a window over the bins (``hist``, plus the edge days' bins
    as one parameter), so only a row or two per key and quantile come back: the bins of two
    years of weeks never reach Python. Not on SQLite, which sorts the rows for a window
    however they arrive: fetched and walked here they cost less (:func:`_walk_fetched`).
    """
    if caps.dialect == "sqlite":
        return _walk_fetched(connection, hist, edge_bins, qs)
    parts: list[Select[Any]] = [] if hist is None else [hist]
    if edge_bins:
        parts.append(_listed_edge_bins(edge_bins))
    if not parts:
        return []
    if unique and hist is not None and len(parts) == 1:
        # Straight off the table, one row per (key, bin) already.
        columns = {c.name: c for c in hist.selected_columns}
        k, found_bin, n = columns["k"], columns["bin"], columns["n"]
        base = hist.where(n != 0)
    else:
        source = (parts[0] if len(parts) == 1 else union_all(*parts)).subquery("bins")
        if not unique:
            source = (
                select(source.c.k, source.c.bin, func.sum(source.c.n).label("n"))
                .group_by(source.c.k, source.c.bin)
                .subquery("summed")
            )
        k, found_bin, n = source.c.k, source.c.bin, source.c.n
        base = select(k, found_bin, n).where(n != 0)
    n = cast(n, Float)  # exact below 2**53, and summed much faster than numeric
    walked = base.with_only_columns(
        k.label("k"),
        found_bin.label("bin"),
        n.label("n"),
        func.sum(n).over(partition_by=k, order_by=found_bin, rows=(None, 0)).label("through"),
        func.sum(n).over(partition_by=k).label("total"),
    ).subquery("walked")
    picks = []
    for q in qs:
        low = func.floor(literal_column(repr(float(q)), Float) * (walked.c.total - 1))
        picks.append(and_(walked.c.through - walked.c.n <= low + 1, walked.c.through > low))
    statement = select(walked.c.k, walked.c.bin, walked.c.n, walked.c.through, walked.c.total).where(
        or_(*picks)
    )
    return list(connection.execute(statement).all())


def _listed_edge_bins(edge_bins: dict[tuple[str, float], int]) -> Select[Any]:
    """The edge days' (key, bin, sessions) as rows of one array parameter each (PostgreSQL)."""
    rows = [(k, found_bin, n) for (k, found_bin), n in edge_bins.items()]
    columns = list(zip(*rows, strict=True))
    listed = (
        func.unnest(
            bindparam("edge_keys", list(columns[0]), type_=ARRAY(Text)),
            bindparam("edge_bin", list(columns[1]), type_=ARRAY(Float)),
            bindparam("edge_n", list(columns[2]), type_=ARRAY(BigInteger)),
        )
        .table_valued("k", "bin", "n")
        .render_derived(name="edge_bins")
    )
    return select(listed.c.k.label("k"), listed.c.bin.label("bin"), listed.c.n.label("n")).select_from(listed)


def _walk_fetched(
    connection: Connection,
    hist: Select[Any] | None,
    edge_bins: dict[tuple[str, float], int],
    qs: tuple[float, ...],
) -> list[tuple[Any, Any, Any, Any, Any]]:
    """:func:`walk_bins`'s rows, from the bins fetched (cheap to read on SQLite)."""
    counts: dict[Any, dict[float, int]] = defaultdict(lambda: defaultdict(int))
    if hist is not None:
        for k, found_bin, n in connection.execute(hist).all():
            if n:
                counts[k][float(found_bin)] += int(n)
    for (k, found_bin), n in edge_bins.items():
        counts[k][found_bin] += n
    out = []
    for k, bins in counts.items():
        total = sum(bins.values())
        lows = [math.floor(q * (total - 1)) for q in qs]
        last = max(lows) + 1
        through = 0
        for found_bin in sorted(bins):
            n = bins[found_bin]
            if not n:
                continue
            through += n
            if any(through - n <= low + 1 and through > low for low in lows):
                out.append((k, found_bin, n, through, total))
            if through - n > last:
                break
    return out


def hist_key(t: Any, per_technique: bool, granularity: Granularity | None) -> ColumnElement[Any] | None:
    """The group key of a histogram row (``agg_bins`` or ``agg_values``); None: one group."""
    if per_technique:
        return t.technique
    if granularity == "month":
        return func.substr(t.week, 1, 7).concat(literal_column("'-01'"))
    if granularity is not None:
        return t.week
    return None


def bin_values(
    connection: Connection,
    caps: Capabilities,
    where: list[ColumnElement[bool]],
    key: ColumnElement[Any] | None,
    targets: list[tuple[Any, float]],
) -> list[tuple[Any, Any, Any]]:
    """(key, value, sessions) of the ``agg_values`` rows ``where`` selects, around the target bins.

    The targets (key, bin) are one parameter, a JSON text on SQLite and arrays on PostgreSQL,
    each one index range on the value (its bin's interval, bounds included, then the exact
    bin). PostgreSQL reads each through a LATERAL subquery: as a
    join its planner hashes the whole histogram instead. Bins too large for ``bin + 1`` to be
    exact (beyond 2**52) are read by the value's sign.
    """
    v = copy.agg_values.c
    ranges = [
        (raw_key(k), *_bin_interval(caps, found_bin), found_bin)
        for k, found_bin in targets
        if abs(found_bin) < _EXACT_BINS
    ]
    rows: list[tuple[Any, Any, Any]] = []
    shown = (key if key is not None else literal_column("''")).label("k")
    if ranges:
        if caps.dialect == "sqlite":
            listed: Any = (
                func.json_each(bindparam("targets", json.dumps(ranges), type_=Text))
                .table_valued("value")
                .alias("targets")
            )
            listed_key, low, high, listed_bin = (
                func.json_extract(listed.c.value, literal_column(f"'$[{i}]'")) for i in range(4)
            )
        else:
            columns = list(zip(*ranges, strict=True))
            listed = (
                func.unnest(
                    bindparam("target_keys", list(columns[0]), type_=ARRAY(Text)),
                    bindparam("target_lows", list(columns[1]), type_=ARRAY(Float)),
                    bindparam("target_highs", list(columns[2]), type_=ARRAY(Float)),
                    bindparam("target_bins", list(columns[3]), type_=ARRAY(Float)),
                )
                .table_valued("key", "low", "high", "bin")
                .render_derived(name="targets")
            )
            listed_key, low, high, listed_bin = (listed.c.key, listed.c.low, listed.c.high, listed.c.bin)
        # The range finds the rows; the bin keeps each in one target (the ranges touch).
        on = [v.value >= low, v.value <= high, _bin_expression(caps, v.value) == listed_bin]
        if key is not None:
            on.append(key == listed_key)
        if caps.dialect == "sqlite":
            statement = (
                select(shown, v.value, v.n).select_from(listed.join(copy.agg_values, and_(*on))).where(*where)
            )
        else:
            picked = select(shown, v.value, v.n).where(*where, *on).lateral("picked")
            statement = select(picked.c.k, picked.c.value, picked.c.n).select_from(
                listed.join(picked, literal_column("true"))
            )
        rows += connection.execute(statement).all()
    huge = [found_bin for _, found_bin in targets if abs(found_bin) >= _EXACT_BINS]
    if huge:
        sides = []
        if any(found_bin > 0 for found_bin in huge):
            sides.append(v.value >= _EXACT_BINS - 1)
        if any(found_bin < 0 for found_bin in huge):
            sides.append(v.value <= 1 - _EXACT_BINS)
        rows += connection.execute(select(shown, v.value, v.n).where(*where, or_(*sides))).all()
    return rows


def _bin_interval(caps: Capabilities, found_bin: float) -> tuple[float, float]:
    """Closed bounds around the values of a bin (SQLite truncates toward zero: bin 0 is (-1, 1))."""
    if caps.dialect != "sqlite" or found_bin > 0:
        return found_bin, found_bin + 1
    if found_bin < 0:
        return found_bin - 1, found_bin
    return -1.0, 1.0


def raw_key(k: Any) -> str:
    """A group key as the histogram spells it (technique, bucket start text, or '')."""
    if k is None:
        return ""
    return k.isoformat() if isinstance(k, date) else str(k)


def _bin_expression(caps: Capabilities, value: ColumnElement[Any]) -> ColumnElement[Any]:
    """:func:`core.speed.rollup_triggers.value_bin` as an expression."""
    return cast(value, Integer) if caps.dialect == "sqlite" else func.floor(value)


def bin_of(caps: Capabilities, value: float) -> float:
    """The bin the database gives ``value`` (a float, as stored)."""
    if caps.dialect == "sqlite":  # CAST AS INTEGER truncates, and saturates at 64 bits
        if value != value:
            return 0.0
        if value >= _INT64_MAX:
            return float(_INT64_MAX)
        if value <= -_INT64_MAX - 1:
            return float(-_INT64_MAX - 1)
        return float(int(value))
    return float(math.floor(value)) if math.isfinite(value) else value
