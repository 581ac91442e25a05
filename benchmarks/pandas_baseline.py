"""The usual Streamlit approach, for comparison: the whole table in one pandas DataFrame.

Load every session joined with its model once (``pd.read_sql``), parse the JSON columns in
Python, then filter, sort and slice in pandas for each interaction. Run in its own process by
``bench_sessions.py`` so its memory does not count against the dashboard's.
"""

from __future__ import annotations

import json
import time
from datetime import UTC
from typing import Any

from bench_sessions import OPERATIONS, filter_for, last_page_skip, measure, rss_mb

PLATFORM_COLUMNS = (
    "session_id",
    "model_id",
    "status",
    "criteria",
    "total_steps",
    "completed_steps",
    "results",
    "error_message",
    "created_at",
    "updated_at",
    "completed_at",
)
METRICS = {
    "size_reduction_percent": "size_reduction_percent",
    "speed_improvement_percent": "speed_improvement_percent",
    "accuracy_delta_percent": "accuracy_delta_percent",
}


def _parse(value: Any) -> Any:
    if value is None or isinstance(value, dict | list):
        return value
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return None


def _metric(parsed: Any, key: str) -> float | None:
    if isinstance(parsed, dict):
        value = parsed.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return None


def load(url: str) -> Any:
    import numpy as np
    import pandas as pd
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    columns = ", ".join(f"s.{c}" for c in PLATFORM_COLUMNS)
    query = (
        f"SELECT {columns}, m.name AS model_name FROM optimization_sessions s"
        " LEFT JOIN models m ON m.model_id = s.model_id"
    )
    with engine.connect() as conn:
        df = pd.read_sql_query(sa.text(query), conn)
    engine.dispose()
    for column in ("created_at", "updated_at", "completed_at"):
        df[column] = pd.to_datetime(df[column], utc=True, format="ISO8601")
    results = df["results"].map(_parse)
    for name, key in METRICS.items():
        df[name] = results.map(lambda r, key=key: _metric(r, key)).astype("float64")
    criteria = df["criteria"].map(_parse)
    df["techniques"] = criteria.map(
        lambda c: (
            [t for t in c.get("techniques", []) if isinstance(t, str)]
            if isinstance(c, dict) and isinstance(c.get("techniques"), list)
            else []
        )
    )
    done = df["completed_steps"].astype("float64")
    total = df["total_steps"].astype("float64")
    running = np.where(total > 0, (done * 100.0 / total).clip(0, 100), 0.0)
    running = np.nan_to_num(running, nan=0.0)
    df["progress_percentage"] = np.where(
        df["status"] == "completed", 100.0, np.where(df["status"] == "pending", 0.0, running)
    )
    df["model_name"] = df["model_name"].fillna(df["model_id"])
    df = df.drop(columns=["criteria", "results"])
    return df


def page(df: Any, f: Any) -> tuple[Any, int]:
    import numpy as np
    import pandas as pd

    mask = np.ones(len(df), dtype=bool)
    if f.statuses:
        mask &= df["status"].isin(f.statuses).to_numpy()
    if f.model_ids:
        mask &= df["model_id"].isin(f.model_ids).to_numpy()
    start, end = f.created_range()
    if start is not None:
        mask &= (df["created_at"] >= pd.Timestamp(start).tz_localize(UTC)).to_numpy()
    if end is not None:
        mask &= (df["created_at"] < pd.Timestamp(end).tz_localize(UTC)).to_numpy()
    if f.search:
        found = np.zeros(len(df), dtype=bool)
        for column in ("session_id", "model_id", "model_name"):
            found |= df[column].str.contains(f.search, case=False, regex=False).to_numpy()
        mask &= found
    matches = df[mask]
    ascending = f.order == "asc"
    ordered = matches.sort_values(
        [f.sort, "session_id"], ascending=ascending, na_position="first" if ascending else "last"
    )
    return ordered.iloc[f.skip : f.skip + f.limit], len(matches)


def aggregates(df: Any) -> dict[str, Any]:
    by_status = df["status"].value_counts()
    exploded = df[["techniques", "size_reduction_percent", "speed_improvement_percent"]].explode("techniques")
    metrics = ["size_reduction_percent", "speed_improvement_percent"]
    by_technique = exploded.groupby("techniques")[metrics].agg(["mean", "median", "count"])
    weekly = df.set_index("created_at").resample("W")["session_id"].count().tail(52)
    return {"status": by_status, "technique": by_technique, "weekly": weekly}


def worker_pandas(url: str, repeat: int) -> dict[str, Any]:
    import io

    import pandas  # noqa: F401

    from core.query.filter import SessionFilter

    rss_before = rss_mb()
    started = time.perf_counter()
    df = load(url)
    load_s = time.perf_counter() - started
    rss_loaded = rss_mb()
    out: dict[str, Any] = {
        "load_s": load_s,
        "rss_mb": rss_loaded,
        "added_mb": rss_loaded - rss_before,
        "ops": [],
    }
    _, completed_total = page(df, SessionFilter(statuses=("completed",)))
    last_skip = last_page_skip(completed_total)
    for name, spec in OPERATIONS:
        f = filter_for(spec, last_skip)
        stats, (rows, total) = measure(lambda f=f: page(df, f), repeat)
        out["ops"].append({"name": name, "total": total, "rows": len(rows), **stats})
    stats, _ = measure(lambda: aggregates(df), repeat)
    out["aggregates"] = stats
    before = rss_mb()
    started = time.perf_counter()
    buffer = io.StringIO()
    df.to_csv(buffer, index=False)
    seconds = time.perf_counter() - started
    out["export_rows_per_s"] = len(df) / seconds
    out["export_added_mb"] = rss_mb() - before
    out["rss_end_mb"] = rss_mb()
    return out
