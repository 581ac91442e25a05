"""web.tcp: the listening socket sends small writes at once (no Nagle)."""

from __future__ import annotations

import socket

from web.tcp import enable_tcp_nodelay


def test_listening_sockets_get_tcp_nodelay_and_others_are_left_alone() -> None:
    listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    idle = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        listening.bind(("127.0.0.1", 0))
        listening.listen(1)
        assert enable_tcp_nodelay() >= 1
        assert listening.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        assert idle.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
    finally:
        listening.close()
        idle.close()


def test_accepted_connections_inherit_it() -> None:
    listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        listening.bind(("127.0.0.1", 0))
        listening.listen(1)
        enable_tcp_nodelay()
        with socket.create_connection(listening.getsockname()):
            accepted, _ = listening.accept()
            with accepted:
                assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    finally:
        listening.close()
