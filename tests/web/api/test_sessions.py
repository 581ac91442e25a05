"""``GET /optimization/sessions`` on a real server equals ``python -m core sessions --format json``.

Every parameter alone and combined, on SQLite and PostgreSQL; the CLI runs in a subprocess
against the same database, so the two paths are held to the same bytes of JSON.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.web.api.conftest import DEMO_SESSIONS, ApiServer

# (query parameters as a list of pairs, the CLI's flags for the same filter)
CASES: list[tuple[str, list[tuple[str, str]], list[str]]] = [
    ("defaults", [], []),
    ("status", [("status", "failed")], ["--status", "failed"]),
    (
        "two statuses",
        [("status", "failed"), ("status", "running")],
        ["--status", "failed", "--status", "running"],
    ),
    ("model_id", [("model_id", "mdl-0003")], ["--model-id", "mdl-0003"]),
    (
        "two models",
        [("model_id", "mdl-0003"), ("model_id", "mdl-0007")],
        ["--model-id", "mdl-0003", "--model-id", "mdl-0007"],
    ),
    ("start_date", [("start_date", "2026-11-01")], ["--start-date", "2026-11-01"]),
    ("end_date date-time", [("end_date", "2026-11-15T12:00:00Z")], ["--end-date", "2026-11-15T12:00:00Z"]),
    ("q", [("q", "bert")], ["--search", "bert"]),
    ("technique", [("technique", "pruning")], ["--technique", "pruning"]),
    (
        "two techniques",
        [("technique", "pruning"), ("technique", "distillation")],
        ["--technique", "pruning", "--technique", "distillation"],
    ),
    ("sort", [("sort", "size_reduction_percent")], ["--sort", "size_reduction_percent"]),
    ("order", [("order", "asc")], ["--order", "asc"]),
    ("skip", [("skip", "30")], ["--skip", "30"]),
    ("limit", [("limit", "7")], ["--limit", "7"]),
    ("limit 100", [("limit", "100")], ["--limit", "100"]),
    (
        "everything combined",
        [
            ("status", "completed"),
            ("status", "failed"),
            ("start_date", "2026-09-01"),
            ("end_date", "2026-11-30"),
            ("technique", "quantization"),
            ("q", "-"),
            ("sort", "speed_improvement_percent"),
            ("order", "asc"),
            ("skip", "3"),
            ("limit", "20"),
        ],
        [
            "--status",
            "completed",
            "--status",
            "failed",
            "--start-date",
            "2026-09-01",
            "--end-date",
            "2026-11-30",
            "--technique",
            "quantization",
            "--search",
            "-",
            "--sort",
            "speed_improvement_percent",
            "--order",
            "asc",
            "--skip",
            "3",
            "--limit",
            "20",
        ],
    ),
]


def cli_json(server: ApiServer, flags: list[str]) -> Any:
    done = server.cli("sessions", "--format", "json", *flags)
    assert done.returncode == 0, done.stderr.decode()
    return json.loads(done.stdout)


@pytest.mark.parametrize(("params", "flags"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_the_response_equals_the_clis_json(
    server: ApiServer, ada: httpx.Client, params: list[tuple[str, str]], flags: list[str]
) -> None:
    reply = ada.get("/sessions", params=tuple(params))
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == "application/json"
    body = reply.json()
    assert set(body) == {"sessions", "total", "skip", "limit"}
    assert body == cli_json(server, flags)


def test_the_filters_really_narrow_the_sessions(ada: httpx.Client) -> None:
    everything = ada.get("/sessions").json()
    assert everything["total"] == DEMO_SESSIONS
    assert len(everything["sessions"]) == 50 and everything["skip"] == 0 and everything["limit"] == 50
    failed = ada.get("/sessions", params={"status": "failed", "limit": 100}).json()
    assert 0 < failed["total"] < DEMO_SESSIONS
    assert {s["status"] for s in failed["sessions"]} == {"failed"}
    pruning = ada.get("/sessions", params={"technique": "pruning", "limit": 100}).json()
    assert pruning["sessions"] and all("pruning" in s["techniques"] for s in pruning["sessions"])


def test_the_rows_carry_exactly_the_original_fields(ada: httpx.Client) -> None:
    row = ada.get("/sessions", params={"limit": 1}).json()["sessions"][0]
    assert list(row) == [
        "session_id", "model_id", "model_name", "status", "progress_percentage", "techniques",
        "size_reduction_percent", "speed_improvement_percent", "created_at", "updated_at", "completed_at",
    ]  # fmt: skip


def test_no_match_is_200_with_an_empty_list_and_the_total(ada: httpx.Client) -> None:
    reply = ada.get("/sessions", params={"q": "no-such-session-anywhere"})
    assert reply.status_code == 200
    assert reply.json() == {"sessions": [], "total": 0, "skip": 0, "limit": 50}
    beyond = ada.get("/sessions", params={"skip": 100000}).json()
    assert beyond["sessions"] == [] and beyond["total"] == DEMO_SESSIONS and beyond["skip"] == 100000


def test_pages_follow_each_other_without_gaps_or_repeats(ada: httpx.Client) -> None:
    ids = []
    for skip in range(0, DEMO_SESSIONS, 100):
        ids += [
            s["session_id"]
            for s in ada.get("/sessions", params={"skip": skip, "limit": 100}).json()["sessions"]
        ]
    assert len(ids) == len(set(ids)) == DEMO_SESSIONS


def test_one_session_has_everything_the_detail_view_shows(ada: httpx.Client) -> None:
    row = ada.get("/sessions", params={"status": "failed", "limit": 1}).json()["sessions"][0]
    reply = ada.get(f"/sessions/{row['session_id']}")
    assert reply.status_code == 200
    detail = reply.json()
    assert {k: detail[k] for k in row} == row
    assert detail["error_message"]
    assert isinstance(detail["criteria"], dict) and "techniques" in detail["criteria"]
    assert {"total_steps", "completed_steps", "results", "accuracy_delta_percent", "model_known"} <= set(
        detail
    )
    assert detail["model"]["model_id"] == row["model_id"]
    assert detail["timeline"]["created_at"] == row["created_at"]
    done = ada.get("/sessions", params={"status": "completed", "limit": 1}).json()["sessions"][0]
    finished = ada.get(f"/sessions/{done['session_id']}").json()
    assert finished["results"]["size_reduction_percent"] == done["size_reduction_percent"]
    assert finished["timeline"]["duration_seconds"] > 0


def test_an_unknown_session_is_404_json_naming_it(ada: httpx.Client) -> None:
    reply = ada.get("/sessions/opt-does-not-exist")
    assert reply.status_code == 404
    assert "opt-does-not-exist" in reply.json()["detail"]


def test_metrics_are_the_cards_per_technique_and_per_week(ada: httpx.Client) -> None:
    everything = ada.get("/metrics").json()
    summary = everything["summary"]
    assert summary["sessions"] == DEMO_SESSIONS == sum(summary["by_status"].values())
    finished = sum(summary["by_status"][s] for s in ("completed", "failed", "cancelled"))
    assert summary["success_rate"] == pytest.approx(summary["by_status"]["completed"] / finished)
    assert summary["median_size_reduction_percent"] > 0
    assert {t["technique"] for t in everything["techniques"]} >= {"pruning", "quantization"}
    assert sum(w["sessions"] for w in everything["weeks"]) == DEMO_SESSIONS
    for week in everything["weeks"]:
        assert week["week_start"].count("-") == 2  # an ISO date, a Monday
    failed = ada.get("/metrics", params={"status": "failed", "skip": 50, "limit": 5}).json()
    assert failed["summary"]["sessions"] == failed["summary"]["by_status"]["failed"]
    assert failed["summary"]["success_rate"] == 0.0
    listed = ada.get("/sessions", params={"status": "failed"}).json()
    assert failed["summary"]["sessions"] == listed["total"]


@pytest.mark.parametrize(
    ("params", "flags"),
    [
        ([], []),
        (
            [("status", "failed"), ("technique", "pruning"), ("sort", "model_name"), ("order", "asc")],
            ["--status", "failed", "--technique", "pruning", "--sort", "model_name", "--order", "asc"],
        ),
        ([("q", "bert"), ("start_date", "2026-10-01")], ["--search", "bert", "--start-date", "2026-10-01"]),
    ],
    ids=["everything", "status+technique+sort", "search+date"],
)
def test_the_csv_is_byte_for_byte_the_clis_csv(
    server: ApiServer, ada: httpx.Client, params: list[tuple[str, str]], flags: list[str]
) -> None:
    done = server.cli("sessions", "--format", "csv", *flags)
    assert done.returncode == 0, done.stderr.decode()
    reply = ada.get("/sessions.csv", params=[*params, ("skip", "10"), ("limit", "5")])
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == "text/csv; charset=utf-8"
    assert reply.content == done.stdout
    assert reply.headers["content-disposition"].startswith('attachment; filename="sessions_')
    negotiated = ada.get("/sessions", params=tuple(params), headers={"Accept": "text/csv"})
    assert negotiated.status_code == 200 and negotiated.content == done.stdout


def test_the_csv_file_name_carries_the_main_filters(ada: httpx.Client) -> None:
    reply = ada.get("/sessions.csv", params={"status": "failed", "technique": "pruning"})
    disposition = reply.headers["content-disposition"]
    assert (
        "status-failed" in disposition
        and "technique-pruning" in disposition
        and disposition.endswith('.csv"')
    )


def test_json_stays_the_default_when_a_client_prefers_it(ada: httpx.Client) -> None:
    reply = ada.get("/sessions", headers={"Accept": "application/json, text/csv;q=0.5"})
    assert reply.headers["content-type"] == "application/json"
