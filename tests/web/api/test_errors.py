"""Every error code of the API on a real server: JSON ``{"detail": ...}`` naming what was wrong.

400 for a value that parses but is not allowed, 422 for one that does not parse, 404 for an
unknown session or path, never HTML, never a traceback; and a fuzz of hostile values for every
parameter that finds no 500.
"""

from __future__ import annotations

import httpx
import pytest

from tests.web.api.conftest import ApiServer

BAD_VALUES: list[tuple[str, str, int, str]] = [
    ("status", "exploded", 400, "pending, running, completed, failed, cancelled"),
    ("limit", "101", 400, "1 to 100"),
    ("limit", "0", 400, "1 to 100"),
    ("limit", "-5", 400, "1 to 100"),
    ("limit", "ten", 422, "1 to 100"),
    ("sort", "password", 400, "size_reduction_percent"),
    ("order", "sideways", 400, "asc or desc"),
    ("q", "x" * 201, 400, "200 characters"),
    ("skip", "-1", 422, "0 or more"),
    ("skip", "abc", 422, "0 or more"),
    ("skip", "1.5", 422, "0 or more"),
    ("start_date", "2026-13-45", 422, "2024-05-31"),
    ("end_date", "yesterday", 422, "2024-05-31"),
    ("start_date", "2026-11-02T25:00:00", 422, "2024-05-31"),
]


@pytest.mark.parametrize("path", ["/sessions", "/sessions.csv", "/metrics"])
@pytest.mark.parametrize(
    ("name", "value", "status", "allowed"), BAD_VALUES, ids=[f"{n}={v[:12]}" for n, v, _, _ in BAD_VALUES]
)
def test_a_bad_value_is_named_with_what_is_allowed(
    ada: httpx.Client, path: str, name: str, value: str, status: int, allowed: str
) -> None:
    reply = ada.get(path, params={name: value})
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"] == "application/json"
    detail = reply.json()["detail"]
    assert f"`{name}`" in detail and allowed in detail
    assert (value[:20] if name == "q" else value) in detail


def test_a_start_after_the_end_is_400_naming_both(ada: httpx.Client) -> None:
    reply = ada.get("/sessions", params={"start_date": "2026-11-20", "end_date": "2026-11-01"})
    assert reply.status_code == 400
    assert "start_date" in reply.json()["detail"] and "2026-11-01" in reply.json()["detail"]


def test_unknown_paths_and_methods_answer_json(ada: httpx.Client) -> None:
    missing = ada.get("/nothing-here")
    assert missing.status_code == 404 and "detail" in missing.json()
    posted = ada.post("/sessions")
    assert posted.status_code == 405 and "detail" in posted.json()


HOSTILE = [
    "",
    " ",
    "'; DROP TABLE optimization_sessions; --",
    "%",
    "_",
    "\\",
    "\x00",
    "\u202e\u0000\ufffd",
    "🚀" * 50,
    "9" * 40,
    "-0",
    "1e9",
    "NaN",
    "../../etc/passwd",
    "<script>alert(1)</script>",
    "2026-02-30",
    "2026-11-01T00:00:00+25:00",
    "0001-01-01",
    "9999-12-31T23:59:59.999999Z",
    "a" * 5000,
]
PARAMS = ["status", "model_id", "start_date", "end_date", "q", "technique", "sort", "order", "skip", "limit"]


@pytest.mark.parametrize("path", ["/sessions", "/sessions.csv", "/metrics"])
def test_hostile_values_for_every_parameter_never_make_a_500(ada: httpx.Client, path: str) -> None:
    failures = []
    for name in PARAMS:
        for value in HOSTILE:
            reply = ada.get(path, params=[(name, value), (name, value[:3])])
            body = reply.text
            if reply.status_code >= 500 or "Traceback" in body or "<html" in body.lower():
                failures.append(f"{name}={value[:30]!r}: {reply.status_code} {body[:200]}")
            elif reply.status_code != 200:
                assert set(reply.json()) == {"detail"}, body
    assert not failures, "\n".join(failures)


def test_hostile_session_ids_are_404_not_500(ada: httpx.Client) -> None:
    for value in ("' OR 1=1 --", "%F0%9F%9A%80" * 20, "a" * 3000, "%25", "%E2%80%AE"):
        reply = ada.get(f"/sessions/{value}")
        assert reply.status_code == 404, (value, reply.text)
        assert set(reply.json()) == {"detail"}
    # Streamlit's path guard answers a NUL or a traversal in the path, before any route: 400, no page.
    for value in ("%00", "..%2F..%2Fetc"):
        reply = ada.get(f"/sessions/{value}")
        assert reply.status_code == 400 and "<html" not in reply.text.lower(), (value, reply.text)


def test_the_same_error_without_a_token_is_401_first(server: ApiServer) -> None:
    """Nothing about the parameters is told to a client that has not authenticated."""
    with server.client(own_address=True) as anonymous:
        reply = anonymous.get("/sessions", params={"limit": "1000"})
    assert reply.status_code == 401
