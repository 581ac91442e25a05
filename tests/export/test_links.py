"""Signed download links: only the signed user, filter and lifetime pass. Pure (no Streamlit)."""

from __future__ import annotations

import pytest

from core.export.links import (
    EXPIRED_MESSAGE,
    INVALID_MESSAGE,
    LINK_LIFETIME_S,
    MISSING_MESSAGE,
    LinkError,
    canonical_query,
    check_token,
    derive_key,
    make_token,
)
from core.query.filter import SessionFilter

COOKIE_KEY = "download-link-test-key-0123456789abcdefghijklmnopqrstuvwxyz"
KEY = derive_key(COOKIE_KEY)
NOW = 1_800_000_000.0
QUERY = canonical_query(SessionFilter(statuses=("failed",), sort="model_name", order="asc"))
ADA = "3f1c0ffee0ddba11c0ffee0ddba11c0f"  # ada's password fingerprint when links are made
USERS = {"ada": ADA, "zoë.o'brien@example.com": ADA}


def refused(
    token: str | None,
    query: str = QUERY,
    now: float = NOW + 1,
    key: bytes = KEY,
    users: dict[str, str] = USERS,
) -> str:
    with pytest.raises(LinkError) as caught:
        check_token(key, token, query, credential_of=users.get, now=now)
    return str(caught.value)


def test_a_fresh_token_grants_its_user_and_filter_until_it_expires() -> None:
    token = make_token(KEY, "ada", QUERY, credential=ADA, now=NOW)
    grant = check_token(KEY, token, QUERY, credential_of=USERS.get, now=NOW + LINK_LIFETIME_S - 1)
    assert (grant.username, grant.query, grant.expires) == ("ada", QUERY, NOW + LINK_LIFETIME_S)
    assert set(token) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


def test_an_expired_token_says_so_and_what_to_do() -> None:
    token = make_token(KEY, "ada", QUERY, credential=ADA, now=NOW)
    message = refused(token, now=NOW + LINK_LIFETIME_S)
    assert message == EXPIRED_MESSAGE
    assert "expired" in message and "click Download CSV again" in message


def test_a_token_for_other_filters_is_refused() -> None:
    token = make_token(KEY, "ada", QUERY, credential=ADA, now=NOW)
    other = canonical_query(SessionFilter(statuses=("failed", "completed"), sort="model_name", order="asc"))
    assert refused(token, query=other) == INVALID_MESSAGE
    assert refused(token, query="") == INVALID_MESSAGE


@pytest.mark.parametrize("part", [1, 2, 3])
def test_changing_any_part_of_a_token_breaks_it(part: int) -> None:
    token = make_token(KEY, "ada", QUERY, credential=ADA, now=NOW)
    pieces = token.split(".")
    replacement = {
        1: "Ym9i",  # "bob"
        2: str(int(pieces[2]) + 3600),  # a longer life
        3: pieces[3][:-2] + ("AA" if not pieces[3].endswith("AA") else "BB"),
    }
    pieces[part] = replacement[part]
    assert refused(".".join(pieces)) == INVALID_MESSAGE


def test_a_token_signed_with_another_cookie_key_is_refused() -> None:
    token = make_token(derive_key(COOKIE_KEY + "-rotated"), "ada", QUERY, credential=ADA, now=NOW)
    assert refused(token) == INVALID_MESSAGE


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        "v1.YWRh.123",
        "v2.YWRh.1800000900.AAAA",
        "v1.!!!.1800000900.AAAA",
        "v1.YWRh.-5.AAAA",
        "v1..1800000900.AA",
        "v1.YWRh.\u00b2.AAAA",
        "v1." + "A" * 2000 + ".1.AA",
    ],
)
def test_malformed_tokens_are_refused_without_an_exception_leaking(token: str) -> None:
    assert refused(token) == INVALID_MESSAGE


@pytest.mark.parametrize("token", [None, ""])
def test_no_token_means_the_link_did_not_come_from_the_page(token: str | None) -> None:
    assert refused(token) == MISSING_MESSAGE


def test_the_signed_query_is_canonical_and_ignores_paging() -> None:
    a = SessionFilter(statuses=("failed", "completed"), skip=100, limit=25)
    b = SessionFilter(statuses=("completed", "failed", "failed"))
    assert canonical_query(a) == canonical_query(b) == "status=completed&status=failed"
    assert canonical_query(SessionFilter()) == ""
    assert canonical_query(SessionFilter(search="a&b=c d")) == "q=a%26b%3Dc+d"


def test_the_link_key_is_stable_and_not_the_cookie_key() -> None:
    assert derive_key(COOKIE_KEY) == derive_key(COOKIE_KEY)  # same on every replica
    assert derive_key(COOKIE_KEY) != COOKIE_KEY.encode()
    assert len(derive_key(COOKIE_KEY)) == 32


def test_user_names_with_any_characters_round_trip() -> None:
    token = make_token(KEY, "zoë.o'brien@example.com", QUERY, credential=ADA, now=NOW)
    grant = check_token(KEY, token, QUERY, credential_of=USERS.get, now=NOW)
    assert grant.username == "zoë.o'brien@example.com"


def test_a_password_change_voids_the_links_made_before_it() -> None:
    token = make_token(KEY, "ada", QUERY, credential=ADA, now=NOW)
    assert refused(token, users={"ada": "a-new-password-fingerprint-00000"}) == INVALID_MESSAGE
    fresh = make_token(KEY, "ada", QUERY, credential="a-new-password-fingerprint-00000", now=NOW)
    assert (
        check_token(
            KEY, fresh, QUERY, credential_of={"ada": "a-new-password-fingerprint-00000"}.get, now=NOW
        ).username
        == "ada"
    )


def test_a_removed_user_gets_the_same_answer_as_a_forged_link() -> None:
    """The route does not tell which user names exist."""
    token = make_token(KEY, "ada", QUERY, credential=ADA, now=NOW)
    assert refused(token, users={}) == INVALID_MESSAGE
    # Even a token made with an empty credential (which only the key holder could) fails.
    blank = make_token(KEY, "ghost", QUERY, credential="", now=NOW)
    assert refused(blank, users={}) == INVALID_MESSAGE
