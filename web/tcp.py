"""Small responses without the 40 ms stall: ``TCP_NODELAY`` on the server's listening socket.

Streamlit binds its socket itself (``socket.socket(family)``, protocol 0), and asyncio only
switches Nagle's algorithm off for sockets created with ``IPPROTO_TCP``. uvicorn writes a
response's headers and body in two sends; with Nagle on, the body waits for the client's ACK of
the headers, which a client that delays its ACKs holds back 40 ms: every request after the first
on a kept-alive connection (API clients, the CSV link's HEAD then GET) paid it. Accepted sockets
inherit the option from the listening socket on Linux, so setting it there once is enough.

Streamlit offers no setting for it, and ``streamlit run server.py`` binds the socket before it
imports ``server.py``; so :func:`enable_tcp_nodelay` sets the option on every TCP socket of the
process that is already listening. If none is found (some other server binds later), it does
nothing and says so at debug level: the dashboard works as before, only slower per request.
"""

from __future__ import annotations

import gc
import logging
import socket

log = logging.getLogger("web.tcp")


def _listening_tcp_sockets() -> list[socket.socket]:
    found = []
    for candidate in gc.get_objects():
        if not isinstance(candidate, socket.socket) or candidate.fileno() < 0:
            continue
        if candidate.family not in (socket.AF_INET, socket.AF_INET6) or candidate.type != socket.SOCK_STREAM:
            continue
        try:
            if candidate.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
                found.append(candidate)
        except OSError:
            continue
    return found


def enable_tcp_nodelay() -> int:
    """Switch Nagle's algorithm off on the process's listening TCP sockets; how many."""
    sockets = _listening_tcp_sockets()
    for sock in sockets:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if not sockets:
        log.debug("no listening TCP socket yet: TCP_NODELAY left as it is")
    return len(sockets)
