"""A minimal in-process HTTP GET for ASGI apps (Starlette's TestClient needs httpx, not installed).

``get(app, "/path?query")`` runs the app once on an AnyIO event loop and returns a
:class:`Reply` with the status, the headers (lower-case names) and the whole body.
``on_done`` is called (its result kept in ``Reply.after``) the moment the app returns,
before the event loop finalises anything left open. ``disconnect_after`` makes the client
vanish after that many body messages, as a browser whose download was cancelled does. The
scope says ASGI spec 2.3, as uvicorn's does: Starlette then learns of a vanished client from
``receive()`` and cancels the response.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import anyio


@dataclass
class Reply:
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    body_messages: int = 0
    completed: bool = False  # the last body message (more_body False) was sent
    after: Any = None  # what ``on_done`` returned

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


def get(
    app: Any,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    disconnect_after: int | None = None,
    on_done: Callable[[], Any] | None = None,
) -> Reply:
    parts = urlsplit(url)
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": parts.path,
        "raw_path": parts.path.encode(),
        "query_string": parts.query.encode(),
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            *((k.lower().encode(), v.encode()) for k, v in (headers or {}).items()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    reply = Reply()
    chunks: list[bytes] = []

    async def main() -> None:
        gone = anyio.Event()
        requested = False

        async def receive() -> dict[str, Any]:
            nonlocal requested
            if not requested:
                requested = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await gone.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                reply.status = message["status"]
                reply.headers = {k.decode().lower(): v.decode() for k, v in message["headers"]}
            elif message["type"] == "http.response.body" and not gone.is_set():
                reply.body_messages += 1
                chunks.append(message.get("body", b""))
                reply.completed = not message.get("more_body", False)
                if disconnect_after is not None and reply.body_messages >= disconnect_after:
                    gone.set()
                    await anyio.sleep_forever()  # a write that never drains: the peer is gone

        await app(scope, receive, send)
        if on_done is not None:  # still inside the event loop, before it cleans anything up
            reply.after = on_done()

    # On a thread of its own: the main thread may already run an event loop (Playwright's
    # sync API does, once a browser test has started), and a thread runs only one.
    failure: list[BaseException] = []

    def run() -> None:
        try:
            anyio.run(main)
        except BaseException as error:
            failure.append(error)

    worker = threading.Thread(target=run, name="asgi-client")
    worker.start()
    worker.join()
    if failure:
        raise failure[0]
    reply.body = b"".join(chunks)
    return reply
