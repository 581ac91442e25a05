"""``SessionFilter``: one value that says which sessions to show, in what order, which page.

It is frozen and hashable (it keys caches), validated when built (one error type,
:class:`FilterError`, whose message names the field, the bad value and what is allowed), and it
round-trips to and from a query string using the original endpoint's parameter names
(``status``, ``model_id``, ``start_date``, ``end_date``, ``skip``, ``limit``) plus ``q``,
``technique``, ``sort`` and ``order``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from core.fields import SORT_KEYS
from core.store.tables import STATUSES

DEFAULT_LIMIT = 50
MAX_LIMIT = 100
MAX_SEARCH_LENGTH = 200

# Every query-string parameter a filter reads and writes (see to_params / from_params).
FILTER_PARAMS: tuple[str, ...] = (
    "status",
    "model_id",
    "start_date",
    "end_date",
    "q",
    "technique",
    "sort",
    "order",
    "skip",
    "limit",
)
# What the Sessions page keeps in its URL besides the filter (hidden and shown columns, the
# open session, auto-refresh). They select no rows: links that carry them (a CSV link made
# from the page's address) export the same sessions, so the HTTP routes accept and ignore them.
VIEW_PARAMS: tuple[str, ...] = ("hide", "show", "session", "refresh")
DEFAULT_SORT = "created_at"
Order = Literal["asc", "desc"]
DEFAULT_ORDER: Order = "desc"
DateBound = date | datetime


NUL_RULE = "text may not contain the NUL character (U+0000)"


def has_nul(value: str) -> bool:
    """Whether ``value`` holds a NUL, which no session field can: PostgreSQL refuses it in text
    outright (an error that would read as "database unavailable"), SQLite would match nothing."""
    return "\x00" in value


class FilterError(ValueError):
    """A filter value a user asked for is not allowed; the message says which and why."""

    def __init__(self, field_name: str, value: Any, allowed: str) -> None:
        self.field = field_name
        self.value = value
        self.allowed = allowed
        super().__init__(f"{field_name}: {value!r} is not allowed; {allowed}")


def _nul_error(param: str, value: str) -> FilterError:
    return FilterError(param, value.replace("\x00", "\\0")[:40], NUL_RULE)


def _as_tuple(values: str | Iterable[str] | None) -> tuple[str, ...]:
    if values is None:
        return ()
    if isinstance(values, str):
        values = [values]
    cleaned = {str(v).strip() for v in values}
    return tuple(sorted(v for v in cleaned if v))


def parse_date_bound(field_name: str, value: DateBound | str | None) -> DateBound | None:
    """Parse ``YYYY-MM-DD`` (a whole day) or an ISO 8601 date-time (naive means UTC)."""
    if value is None or isinstance(value, datetime | date):
        return value
    text = str(value).strip()
    if not text:
        return None
    allowed = "use a date like 2024-05-31 or a date-time like 2024-05-31T14:00:00Z"
    if len(text) == 10:
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise FilterError(field_name, value, allowed) from None
    try:
        parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError:
        raise FilterError(field_name, value, allowed) from None
    return parsed


def _to_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _bound_text(value: DateBound) -> str:
    if isinstance(value, datetime):
        return _to_utc(value).strftime(
            "%Y-%m-%dT%H:%M:%SZ" if not value.microsecond else "%Y-%m-%dT%H:%M:%S.%fZ"
        )
    return value.isoformat()


@dataclass(frozen=True)
class SessionFilter:
    """Which sessions, sorted how, which page. Validated on construction."""

    statuses: tuple[str, ...] = ()
    model_ids: tuple[str, ...] = ()
    start_date: DateBound | None = None
    end_date: DateBound | None = None
    search: str = ""
    techniques: tuple[str, ...] = ()
    sort: str = DEFAULT_SORT
    order: Order = DEFAULT_ORDER
    skip: int = 0
    limit: int = DEFAULT_LIMIT

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "statuses", _as_tuple(self.statuses))
        set_(self, "model_ids", _as_tuple(self.model_ids))
        set_(self, "techniques", _as_tuple(self.techniques))
        set_(self, "search", (self.search or "").strip())
        set_(self, "start_date", parse_date_bound("start_date", self.start_date))
        set_(self, "end_date", parse_date_bound("end_date", self.end_date))
        for status in self.statuses:
            if status not in STATUSES:
                raise FilterError("status", status, f"choose from {', '.join(STATUSES)}")
        for param, values in (
            ("model_id", self.model_ids),
            ("technique", self.techniques),
            ("q", (self.search,)),
        ):
            for value in values:
                if has_nul(value):
                    raise FilterError(param, value.replace("\x00", "\\0")[:40], NUL_RULE)
        if len(self.search) > MAX_SEARCH_LENGTH:
            raise FilterError(
                "q", self.search[:20] + "...", f"search text is at most {MAX_SEARCH_LENGTH} characters"
            )
        if self.sort not in SORT_KEYS:
            raise FilterError("sort", self.sort, f"choose from {', '.join(SORT_KEYS)}")
        if self.order not in ("asc", "desc"):
            raise FilterError("order", self.order, "use asc or desc")
        if isinstance(self.skip, bool) or not isinstance(self.skip, int) or self.skip < 0:
            raise FilterError("skip", self.skip, "skip is a whole number, 0 or more")
        if (
            isinstance(self.limit, bool)
            or not isinstance(self.limit, int)
            or not 1 <= self.limit <= MAX_LIMIT
        ):
            raise FilterError("limit", self.limit, f"limit is a whole number from 1 to {MAX_LIMIT}")
        start, end = self.created_range()
        if start is not None and end is not None and start >= end:
            raise FilterError(
                "start_date",
                _bound_text(self.start_date),  # type: ignore[arg-type]
                f"the start must not be after end_date {_bound_text(self.end_date)}",  # type: ignore[arg-type]
            )

    # -- meaning ---------------------------------------------------------------------------

    @property
    def status_only(self) -> bool:
        """Whether nothing but the status (and paging or order) narrows the sessions: the filters
        that per-status counts and per-day rollups can answer without reading rows."""
        start, end = self.created_range()
        return not (self.model_ids or self.search or self.techniques or start is not None or end is not None)

    def created_range(self) -> tuple[datetime | None, datetime | None]:
        """``[start, end)`` in naive UTC: a date alone covers its whole day (end inclusive)."""
        start = end = None
        if isinstance(self.start_date, datetime):
            start = _to_utc(self.start_date).replace(tzinfo=None)
        elif isinstance(self.start_date, date):
            start = datetime.combine(self.start_date, time())
        if isinstance(self.end_date, datetime):
            # An explicit instant is inclusive: nudge the exclusive bound past it.
            end = _to_utc(self.end_date).replace(tzinfo=None) + timedelta(microseconds=1)
        elif isinstance(self.end_date, date):
            end = datetime.combine(self.end_date + timedelta(days=1), time())
        return start, end

    @property
    def page_number(self) -> int:
        """1-based page that ``skip`` falls on."""
        return self.skip // self.limit + 1

    def with_page(self, page_number: int) -> SessionFilter:
        return replace(self, skip=max(0, (page_number - 1) * self.limit))

    def first_page(self) -> SessionFilter:
        return replace(self, skip=0)

    def without_paging(self) -> SessionFilter:
        """The same matches and order, first page: what exports and aggregates key on."""
        return replace(self, skip=0, limit=DEFAULT_LIMIT)

    # -- query string ----------------------------------------------------------------------

    def to_params(self) -> dict[str, list[str]]:
        """Query-string parameters for this filter, defaults left out, repeated keys as lists."""
        params: dict[str, list[str]] = {}
        if self.statuses:
            params["status"] = list(self.statuses)
        if self.model_ids:
            params["model_id"] = list(self.model_ids)
        if self.start_date is not None:
            params["start_date"] = [_bound_text(self.start_date)]
        if self.end_date is not None:
            params["end_date"] = [_bound_text(self.end_date)]
        if self.search:
            params["q"] = [self.search]
        if self.techniques:
            params["technique"] = list(self.techniques)
        if self.sort != DEFAULT_SORT:
            params["sort"] = [self.sort]
        if self.order != DEFAULT_ORDER:
            params["order"] = [self.order]
        if self.skip:
            params["skip"] = [str(self.skip)]
        if self.limit != DEFAULT_LIMIT:
            params["limit"] = [str(self.limit)]
        return params

    @classmethod
    def from_params(cls, params: Mapping[str, str | Sequence[str]]) -> SessionFilter:
        """Build from query-string parameters; the first bad one raises :class:`FilterError`."""
        value, errors = cls.from_params_lenient(params)
        if errors:
            raise errors[0]
        return value

    @classmethod
    def from_params_lenient(
        cls, params: Mapping[str, str | Sequence[str]]
    ) -> tuple[SessionFilter, list[FilterError]]:
        """Build from query-string parameters, putting each bad one back to its default.

        Returns the filter and one error per parameter that was dropped, so a page can warn
        about ``limit=500`` and still show something useful.
        """
        raw = _normalise_params(params)
        errors: list[FilterError] = []
        kwargs: dict[str, Any] = {}

        statuses = raw.get("status", [])
        bad = [s for s in statuses if s not in STATUSES]
        for status in bad:
            errors.append(FilterError("status", status, f"choose from {', '.join(STATUSES)}"))
        kwargs["statuses"] = tuple(s for s in statuses if s in STATUSES)
        for name, param in (("model_ids", "model_id"), ("techniques", "technique")):
            values = raw.get(param, [])
            errors.extend(
                FilterError(param, v.replace("\x00", "\\0")[:40], NUL_RULE) for v in values if has_nul(v)
            )
            kwargs[name] = tuple(v for v in values if not has_nul(v))

        for name in ("start_date", "end_date"):
            if name in raw:
                try:
                    kwargs[name] = parse_date_bound(name, raw[name][-1])
                except FilterError as error:
                    errors.append(error)
        for name, param in (("skip", "skip"), ("limit", "limit")):
            if param in raw:
                text = raw[param][-1]
                try:
                    kwargs[name] = int(text)
                except ValueError:
                    allowed = (
                        "skip is a whole number, 0 or more"
                        if name == "skip"
                        else f"limit is a whole number from 1 to {MAX_LIMIT}"
                    )
                    errors.append(FilterError(param, text, allowed))
        if "q" in raw:
            if has_nul(raw["q"][-1]):
                errors.append(_nul_error("q", raw["q"][-1]))
            else:
                kwargs["search"] = raw["q"][-1]
        if "sort" in raw:
            kwargs["sort"] = raw["sort"][-1]
        if "order" in raw:
            kwargs["order"] = raw["order"][-1].lower()

        # Validate, dropping each offending field back to its default until it holds.
        defaults = {f.name: f.default for f in fields(cls)}
        param_to_field = {"status": "statuses", "q": "search"}
        for _ in range(len(kwargs) + 1):
            try:
                return cls(**kwargs), errors
            except FilterError as error:
                errors.append(error)
                name = param_to_field.get(error.field, error.field)
                kwargs[name] = defaults[name]
        return cls(), errors


def _normalise_params(params: Mapping[str, str | Sequence[str]]) -> dict[str, list[str]]:
    """Every parameter as a list of non-empty strings (repeated keys, or one value)."""
    out: dict[str, list[str]] = {}
    for key, value in params.items():
        values = [value] if isinstance(value, str) else list(value)
        cleaned = [str(v).strip() for v in values if str(v).strip()]
        if cleaned:
            out[key] = cleaned
    return out
