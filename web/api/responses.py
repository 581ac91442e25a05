"""JSON bodies that always render: non-finite floats become ``null``.

Stored JSON may hold ``NaN`` or ``Infinity`` (Python's json reads them); strict JSON has no
such values and Starlette refuses to write them, which would turn a session's detail into a
500. Clients get ``null`` there, as for any missing number.
"""

from __future__ import annotations

import math
from typing import Any

from fastapi.responses import JSONResponse

from web.api.errors import NO_STORE


def finite(value: Any) -> Any:
    """``value`` with every NaN/inf float, however deeply nested, replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def json_response(content: Any) -> JSONResponse:
    return JSONResponse(finite(content), headers=NO_STORE)
