"""The filter of a request: the query string read by :meth:`SessionFilter.from_params`.

The handlers declare their parameters to FastAPI only for the OpenAPI document (as plain
strings, so FastAPI rejects nothing itself); the values are read here from the raw query string,
repeated keys as lists, and validated by the core, exactly as the Sessions page and the CLI do.
Parameters the API does not know are ignored, as the original FastAPI endpoint ignored them.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request

from core.fields import SORT_KEYS
from core.query.filter import FILTER_PARAMS, MAX_LIMIT, NUL_RULE, FilterError, SessionFilter, has_nul
from core.store.tables import STATUSES
from web.api.errors import ApiError, from_filter_error
from web.csv_body import query_lists

# The parameters as the OpenAPI document shows them (the values are read by request_filter).
Status = Annotated[list[str] | None, Query(description=f"repeatable; one of {', '.join(STATUSES)}")]
ModelId = Annotated[list[str] | None, Query(description="repeatable; sessions of any of these models")]
StartDate = Annotated[
    str | None, Query(description="created at or after: YYYY-MM-DD (the whole UTC day) or ISO 8601")
]
EndDate = Annotated[str | None, Query(description="created at or before (inclusive): date or ISO 8601")]
Search = Annotated[
    str | None, Query(description="case-insensitive substring of session id, model id or model name")
]
Technique = Annotated[list[str] | None, Query(description="repeatable; sessions applying any of them")]
Sort = Annotated[str | None, Query(description=f"one of {', '.join(SORT_KEYS)}; default created_at")]
Order = Annotated[str | None, Query(description="asc or desc; default desc")]
Skip = Annotated[str | None, Query(description="matches to skip: a whole number, 0 or more; default 0")]
Limit = Annotated[str | None, Query(description=f"page size: 1 to {MAX_LIMIT}; default 50")]


def reject_nul(params: dict[str, list[str]]) -> None:
    """400 for a NUL character in any value (:func:`core.query.filter.has_nul`): also in the
    parameters a filter does not validate as text (``sort``, ``order``, dates)."""
    for name, values in params.items():
        for value in values:
            if has_nul(value):
                raise ApiError(400, f"Bad parameter `{name}`: {value[:40]!r} is not allowed; {NUL_RULE}.")


def request_filter(request: Request, *, paged: bool = True) -> SessionFilter:
    """The request's :class:`SessionFilter`; :class:`ApiError` (400/422) naming a bad value.

    ``paged=False`` (CSV, metrics): every match counts, ``skip`` and ``limit`` are still
    validated but then dropped.
    """
    params = {k: v for k, v in query_lists(request).items() if k in FILTER_PARAMS}
    reject_nul(params)
    try:
        f = SessionFilter.from_params(params)
    except FilterError as error:
        raise from_filter_error(error) from None
    return f if paged else f.without_paging()
