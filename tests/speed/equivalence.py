"""The plain reference and the comparison the equivalence tests share: random filters, the
plain path's answers, platform writes with plain SQL, and the copy's answers beside the platform's.
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from core.config import Settings
from core.export.stream import iter_csv, iter_filtered_csv
from core.fields import SORT_KEYS
from core.query.clauses import build_count, build_select
from core.query.filter import SessionFilter
from core.query.lookups import count_data_issues
from core.query.pages import build_page_select, count_sessions, fetch_page, iter_sessions
from core.query.rows import row_from_mapping
from core.speed.capabilities import Capabilities, capabilities
from core.speed.expressions import derived
from core.stats.periods import period_stats
from core.stats.points import pareto_front, scatter
from core.stats.summary import status_counts, summary
from core.stats.techniques import technique_stats
from core.store.engine import make_engine
from core.store.tables import STATUSES

if TYPE_CHECKING:
    from core.speed import SpeedLayer
from tests.speed.random_sessions import (
    BASE,
    MISSING_MODELS,
    SEED,
    TECHNIQUES,
)

# -- the plain reference -----------------------------------------------------------------------


def plain_caps(dialect: str) -> Capabilities:
    """Nothing derived: inline JSON expressions, LIKE scans, json_each, count(*)."""
    return Capabilities(
        dialect=dialect, generated_columns=frozenset(), techniques_table=False, search_index=False
    )


def plain_rows(conn: Connection, f: SessionFilter, *, paged: bool = True) -> tuple[Any, ...]:
    statement = build_select(f, plain_caps(conn.dialect.name))
    if paged:
        statement = statement.limit(f.limit).offset(f.skip)
    return tuple(row_from_mapping(r) for r in conn.execute(statement).mappings())


def plain_total(conn: Connection, f: SessionFilter) -> int:
    return int(conn.execute(build_count(f, plain_caps(conn.dialect.name))).scalar_one())


def plain_issues(conn: Connection, f: SessionFilter) -> int:
    caps = plain_caps(conn.dialect.name)
    statement = build_count(f, caps).where(derived("data_issue", caps) == 1)
    return int(conn.execute(statement).scalar_one())


# -- random filters ----------------------------------------------------------------------------


def search_terms(conn: Connection) -> list[str]:
    """Fragments of real ids and names (any case), short ones, wildcards, quotes, misses."""
    ids = [r[0] for r in conn.execute(text("SELECT session_id FROM optimization_sessions"))]
    names = [r[0] for r in conn.execute(text("SELECT name FROM models"))]
    terms = [
        "opt",
        "OPT-00",
        "s%",
        "s_",
        "%",
        "_",
        "\\",
        '"',
        "dup",
        "bert",
        "BERT b",
        "RESNET",
        "100%",
        "%_n",
        "under_",
        "whisper",
        "ünï",
        "ÜNÏ",
        "ab",
        "a",
        "m-0",
        "m-1",
        "gone",
        "x%y",
        "-00",
        "zzz-none",
        'quote"n',
        "m-ghost",
    ]
    rng = random.Random(SEED + 1)
    for value in rng.sample(ids, 8) + rng.sample(names, 4):
        start = rng.randrange(0, max(1, len(value) - 3))
        fragment = value[start : start + rng.choice([2, 3, 4, 6])]
        terms.append(fragment.upper() if rng.random() < 0.3 else fragment)
    return terms


def random_filter(rng: random.Random, terms: list[str], model_ids: list[str]) -> SessionFilter:
    kwargs: dict[str, Any] = {}
    if rng.random() < 0.4:
        kwargs["statuses"] = tuple(rng.sample(STATUSES, rng.randrange(1, 3)))
    if rng.random() < 0.2:
        kwargs["model_ids"] = tuple(rng.sample(model_ids, rng.randrange(1, 3)))
    roll = rng.random()
    if roll < 0.3:
        start = BASE.date() + timedelta(days=rng.randrange(0, 30))
        end = start + timedelta(days=rng.randrange(0, 15))
        kwargs["start_date"], kwargs["end_date"] = start, end
    elif roll < 0.4:
        kwargs["start_date"] = BASE + timedelta(
            days=rng.randrange(0, 40), hours=6, microseconds=rng.choice([0, 500, 123456])
        )
    elif roll < 0.5:
        kwargs["end_date"] = BASE + timedelta(
            days=rng.randrange(0, 40), hours=12, microseconds=rng.choice([0, 499, 123456])
        )
    if rng.random() < 0.35:
        kwargs["search"] = rng.choice(terms)
    if rng.random() < 0.2:
        kwargs["techniques"] = tuple(rng.sample(TECHNIQUES, rng.randrange(1, 3)))
    kwargs["sort"] = rng.choice(SORT_KEYS)
    kwargs["order"] = rng.choice(("asc", "desc"))
    kwargs["limit"] = rng.choice((1, 7, 50, 100))
    return SessionFilter(**kwargs)


def skips(rng: random.Random, total: int, limit: int) -> list[int]:
    """First page, random, both sides of the middle (index-first vs reversed), the end, past it."""
    candidates = {0, total + 3, max(0, total - 1), total // 2, total // 2 + 1}
    if total:
        candidates.add(rng.randrange(total))
        candidates.add((total - 1) // limit * limit)
    return sorted(candidates)


# -- the comparison ----------------------------------------------------------------------------


def check_filter(conn: Connection, f: SessionFilter, rng: random.Random, *, full: bool) -> None:
    total = plain_total(conn, f)
    assert count_sessions(conn, f) == total, f
    caps = capabilities(conn)
    for skip in skips(rng, total, f.limit):
        paged = replace(f, skip=skip)
        page = fetch_page(conn, paged)
        assert page.total == total, paged
        expected = plain_rows(conn, paged)
        assert page.rows == expected, paged
        if (f.search or f.techniques) and skip < total:
            # Every page plan, not only the one the heuristic picks for this data.
            for plan in ("index", "walk", "collect"):
                statement = build_page_select(paged, caps, total, plan=plan)
                rows = tuple(row_from_mapping(r) for r in conn.execute(statement).mappings())
                assert rows == expected, (plan, paged)
    if full:
        everything = plain_rows(conn, f, paged=False)
        assert tuple(iter_sessions(conn, f)) == everything, f
        assert count_data_issues(conn, f) == plain_issues(conn, f), f
        fast = "".join(iter_filtered_csv(conn, f, chunk_rows=7))
        assert fast == "".join(iter_csv(iter(everything))), f


def check_many(engine: Engine, rounds: int, seed: int) -> int:
    rng = random.Random(seed)
    checked = 0
    with engine.connect() as conn:
        terms = search_terms(conn)
        model_ids = [r[0] for r in conn.execute(text("SELECT model_id FROM models"))]
        model_ids += list(MISSING_MODELS)
        fixed = [
            SessionFilter(),
            SessionFilter(statuses=("completed",)),
            SessionFilter(statuses=("failed", "running"), sort="size_reduction_percent"),
            SessionFilter(sort="model_name", order="asc"),
            SessionFilter(search="m-0"),
            SessionFilter(search="x%y", sort="model_name"),
            SessionFilter(techniques=("pruning",)),
        ]
        for index, f in enumerate(fixed + [random_filter(rng, terms, model_ids) for _ in range(rounds)]):
            check_filter(conn, f, rng, full=index < len(fixed) or index % 5 == 0)
            checked += 1
    return checked


def check_derived_tables(engine: Engine) -> None:
    """The trigger-kept tables hold exactly what the platform rows say."""
    with engine.connect() as conn:
        caps = capabilities(conn)
        if caps.techniques_table:
            plain = plain_caps(conn.dialect.name)
            for technique in TECHNIQUES:
                f = SessionFilter(techniques=(technique,))
                assert count_sessions(conn, f) == plain_total(conn, f)
            assert plain is not None
        if caps.status_counts:
            counts = dict(
                conn.execute(
                    text(
                        "SELECT status, sum(sessions) FROM session_counts GROUP BY status"
                        " HAVING sum(sessions) <> 0"
                    )
                ).all()
            )
            truth = dict(
                conn.execute(text("SELECT status, count(*) FROM optimization_sessions GROUP BY status")).all()
            )
            assert {k: int(v) for k, v in counts.items()} == truth
            for statuses in ((), ("completed",), ("failed", "running"), ("nonexistent",)):
                f = SessionFilter(statuses=tuple(s for s in statuses if s in STATUSES))
                assert count_sessions(conn, f) == plain_total(conn, f)
        if conn.dialect.name == "sqlite" and caps.status_counts:
            live = conn.execute(text("SELECT count(*) FROM optimization_sessions")).scalar_one()
            assert conn.execute(text("SELECT count(*) FROM session_search")).scalar_one() == live
            assert conn.execute(text("SELECT count(*) FROM session_keys")).scalar_one() == live
            mismatched = conn.execute(
                text(
                    "SELECT count(*) FROM session_keys k JOIN session_search f ON f.rowid = k.search_rowid"
                    " JOIN optimization_sessions s ON s.session_id = k.session_id"
                    " WHERE f.session_id IS NOT s.session_id"
                    " OR k.status IS NOT s.status"
                )
            ).scalar_one()
            assert mismatched == 0


# -- platform writes with plain SQL -----------------------------------------------------------


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


@dataclasses.dataclass(frozen=True)
class _Writes:
    """The plain SQL pieces of :func:`platform_writes` for one backend."""

    backend: str
    now: datetime = BASE + timedelta(days=3, hours=6)
    columns: str = (
        "(session_id, model_id, status, criteria, total_steps, completed_steps, results,"
        " error_message, created_at, updated_at, completed_at)"
    )

    @property
    def cast(self) -> str:
        return "CAST(:criteria AS jsonb)" if self.backend == "postgresql" else ":criteria"

    @property
    def cast_r(self) -> str:
        return "CAST(:results AS jsonb)" if self.backend == "postgresql" else ":results"

    @property
    def values(self) -> str:
        return (
            f"(:sid, :model, :status, {self.cast}, :total, :done, {self.cast_r}, NULL, :created,"
            " :updated, :completed)"
        )

    def params(self, sid: str, model: str, status: str, techniques: Any, size: Any) -> dict[str, Any]:
        return {
            "sid": sid,
            "model": model,
            "status": status,
            "criteria": _json({"techniques": techniques}),
            "total": 10,
            "done": 5,
            "results": _json({"size_reduction_percent": size}),
            "created": self.now,
            "updated": self.now,
            "completed": self.now if status == "completed" else None,
        }


def platform_writes(engine: Engine, backend: str, rng: random.Random) -> None:
    """What the platform may do to its tables, none of it through this project's code."""
    w = _Writes(backend)
    with engine.begin() as conn:
        ids = [r[0] for r in conn.execute(text("SELECT session_id FROM optimization_sessions"))]
        picked = rng.sample(ids, 40)
        _insert_and_update(conn, w, rng, picked)
        _delete_and_replace(conn, w, picked)
        # Model metadata changes: a new model name matching searches, a removed model.
        conn.execute(text("INSERT INTO models (model_id, name) VALUES ('m-new', 'Whisper Tiny 100%')"))
        conn.execute(text("UPDATE models SET name = 'renamed bert' WHERE model_id = 'm-00'"))
        conn.execute(text("DELETE FROM models WHERE model_id = 'm-04'"))


def _insert_and_update(conn: Connection, w: _Writes, rng: random.Random, picked: list[str]) -> None:
    # Inserts, on known and unknown models.
    for i in range(15):
        conn.execute(
            text(f"INSERT INTO optimization_sessions {w.columns} VALUES {w.values}"),
            w.params(
                f"new-{i:03d}",
                rng.choice(["m-01", "m-new", "m-03"]),
                rng.choice(STATUSES),
                rng.sample(TECHNIQUES, 2),
                rng.choice([5, 12.5, None]),
            ),
        )
    # Updates of every column something is derived from.
    for sid in picked[:6]:
        conn.execute(
            text(
                "UPDATE optimization_sessions SET status = 'completed', completed_steps ="
                " total_steps WHERE session_id = :sid"
            ),
            {"sid": sid},
        )
    for sid in picked[6:10]:
        conn.execute(
            text("UPDATE optimization_sessions SET model_id = 'm-06' WHERE session_id = :sid"),
            {"sid": sid},
        )
    for sid in picked[10:13]:
        conn.execute(
            text(
                f"UPDATE optimization_sessions SET criteria = {w.cast}, results = {w.cast_r}"
                " WHERE session_id = :sid"
            ),
            {
                "sid": sid,
                "criteria": _json({"techniques": ["pruning", "distillation"]}),
                "results": _json({"size_reduction_percent": 77.5}),
            },
        )
    for number, sid in enumerate(picked[13:16]):
        conn.execute(
            text("UPDATE optimization_sessions SET session_id = :new WHERE session_id = :sid"),
            {"sid": sid, "new": f"renamed-{number}"},
        )
    conn.execute(
        text("UPDATE optimization_sessions SET created_at = :t, updated_at = :t WHERE session_id = :sid"),
        {"sid": picked[16], "t": w.now},
    )


def _delete_and_replace(conn: Connection, w: _Writes, picked: list[str]) -> None:
    # Deletes, one by one and several in one statement.
    for sid in picked[17:20]:
        conn.execute(text("DELETE FROM optimization_sessions WHERE session_id = :sid"), {"sid": sid})
    conn.execute(
        text("DELETE FROM optimization_sessions WHERE session_id IN (:a, :b)"),
        {"a": picked[20], "b": picked[21]},
    )
    # A status change for many rows in one statement.
    conn.execute(
        text(
            "UPDATE optimization_sessions SET status = 'cancelled'"
            " WHERE status = 'pending' AND session_id LIKE '%1'"
        )
    )
    # Replace an existing session wholesale (new model, status and techniques), and an
    # insert that is ignored because the id exists.
    for sid in picked[22:28]:
        p = w.params(sid, "m-07", "failed", ["quantization"], 3.0)
        if w.backend == "sqlite":
            conn.execute(
                text(f"INSERT OR REPLACE INTO optimization_sessions {w.columns} VALUES {w.values}"), p
            )
        else:
            conn.execute(
                text(
                    f"INSERT INTO optimization_sessions {w.columns} VALUES {w.values}"
                    " ON CONFLICT (session_id)"
                    " DO UPDATE SET model_id = EXCLUDED.model_id, status = EXCLUDED.status,"
                    " criteria = EXCLUDED.criteria, results = EXCLUDED.results"
                ),
                p,
            )
    for sid in picked[28:31]:
        p = w.params(sid, "m-08", "running", ["pruning"], 1.0)
        if w.backend == "sqlite":
            conn.execute(
                text(f"INSERT OR IGNORE INTO optimization_sessions {w.columns} VALUES {w.values}"), p
            )
        else:
            conn.execute(
                text(
                    f"INSERT INTO optimization_sessions {w.columns} VALUES {w.values} ON CONFLICT DO NOTHING"
                ),
                p,
            )
    if w.backend == "sqlite":
        # REPLACE of a row by a brand-new id, and UPDATE OR REPLACE onto an existing id
        # (the row holding that id disappears without a delete trigger).
        conn.execute(
            text(f"REPLACE INTO optimization_sessions {w.columns} VALUES {w.values}"),
            w.params("new-replaced", "m-02", "pending", [], None),
        )
        conn.execute(
            text(
                "UPDATE OR REPLACE optimization_sessions SET session_id = :target,"
                " status = 'cancelled' WHERE session_id = :sid"
            ),
            {"sid": picked[31], "target": picked[32]},
        )


def engines(url: str) -> tuple[Engine, Engine]:
    writer = make_engine(Settings(url, "--db"), read_only=False)
    with writer.connect():  # creates the SQLite file the read-only engine opens
        pass
    return writer, make_engine(Settings(url, "--db"), read_only=True)


def alike(a: Any, b: Any) -> bool:
    """Equal, floats up to rounding (sums read rows in another order on another path)."""
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    if dataclasses.is_dataclass(a) and type(a) is type(b):
        return all(alike(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a))
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(map(alike, a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(alike(a[k], b[k]) for k in a)
    return a == b


def copy_row_kinds(conn: Connection, f: SessionFilter) -> tuple[int, int]:
    """(lines the server wrote, rows it left to Python) for ``f``'s COPY statement."""
    from core.export.copy import copy_statement

    statement = copy_statement(conn, f)
    assert statement is not None
    lines = fallbacks = 0
    cursor = conn.connection.driver_connection.cursor()
    with cursor.copy(statement) as copy:
        for data in copy:
            if data[0] == ord("["):
                fallbacks += 1
            else:
                lines += 1
    return lines, fallbacks


# -- the speed layer's copy: the same answers as the platform's own rows ------------------------

AGGREGATES = (
    summary,
    status_counts,
    technique_stats,
    period_stats,
    scatter,
    pareto_front,
)


def _answers(conn: Connection, filters: list[SessionFilter]) -> list[Any]:
    out: list[Any] = []
    for f in filters:
        out.append(fetch_page(conn, f))
        out.append("".join(iter_csv(iter_sessions(conn, f))))
        unpaged = replace(f, skip=0)
        out.extend(fn(conn, unpaged) for fn in AGGREGATES)
    return out


def _filters(conn: Connection, count: int, seed: int) -> list[SessionFilter]:
    rng = random.Random(seed)
    terms = search_terms(conn)
    model_ids = [r[0] for r in conn.execute(text("SELECT DISTINCT model_id FROM optimization_sessions"))]
    return [
        SessionFilter(),
        SessionFilter(statuses=("completed",), sort="size_reduction_percent"),
        *(random_filter(rng, terms, model_ids) for _ in range(count)),
    ]


def assert_copy_answers_like_the_platform(layer: SpeedLayer, *, rounds: int = 25, seed: int = SEED) -> None:
    plan = layer.plan()
    assert plan.uses_copy, plan.reason
    with layer.platform_engine().connect() as conn:
        filters = _filters(conn, rounds, seed)
        expected = _answers(conn, filters)
    with plan.engine.connect() as conn:
        got = _answers(conn, filters)
    for f, a, b in zip([f for f in filters for _ in range(2 + len(AGGREGATES))], got, expected, strict=True):
        # Sums may add the same values in another order on another path: equal up to rounding.
        assert alike(a, b), f
