"""The Socket Mode side of the fake Slack: a minimal WebSocket server on 127.0.0.1.

Enough of RFC 6455 for slack-sdk's built-in Socket Mode client: the upgrade handshake, text
frames both ways (client frames masked), ping/pong and close. The server greets each
connection with Slack's ``hello``, pushes envelopes with :meth:`FakeSocketServer.send` and
records the acknowledgements that come back.
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import struct
import threading
import uuid
from typing import Any

_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_TEXT, _CLOSE, _PING, _PONG = 0x1, 0x8, 0x9, 0xA


def _frame(opcode: int, data: bytes) -> bytes:
    """An unmasked (server-to-client) frame."""
    head = bytes([0x80 | opcode])
    if len(data) <= 125:
        head += bytes([len(data)])
    elif len(data) <= 0xFFFF:
        head += bytes([126]) + struct.pack("!H", len(data))
    else:
        head += bytes([127]) + struct.pack("!Q", len(data))
    return head + data


def _read_exact(sock: socket.socket, size: int) -> bytes:
    chunks = b""
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            raise ConnectionError("closed")
        chunks += chunk
    return chunks


def _read_frame(sock: socket.socket) -> tuple[int, bytes]:
    first, second = _read_exact(sock, 2)
    length = second & 0x7F
    if length == 126:
        (length,) = struct.unpack("!H", _read_exact(sock, 2))
    elif length == 127:
        (length,) = struct.unpack("!Q", _read_exact(sock, 8))
    mask = _read_exact(sock, 4) if second & 0x80 else b"\0\0\0\0"
    data = bytes(b ^ mask[i % 4] for i, b in enumerate(_read_exact(sock, length)))
    return first & 0x0F, data


class FakeSocketServer:
    """Accepts Socket Mode connections, pushes envelopes, collects acknowledgements."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._clients: list[socket.socket] = []
        self.acks: dict[str, dict[str, Any]] = {}
        self._lock = threading.Condition()
        self._closed = False
        threading.Thread(target=self._accept, name="fake-slack-socket", daemon=True).start()

    @property
    def url(self) -> str:
        """The ``ws://`` URL that ``apps.connections.open`` hands out."""
        return f"ws://127.0.0.1:{self._listener.getsockname()[1]}/link/?ticket={uuid.uuid4().hex}"

    def close(self) -> None:
        """Stop accepting and drop every connection."""
        self._closed = True
        self._listener.close()
        with self._lock:
            for client in self._clients:
                client.close()
            self._clients.clear()
            self._lock.notify_all()

    def wait_connected(self, timeout: float = 5.0) -> bool:
        """True once a client has completed the handshake."""
        with self._lock:
            return self._lock.wait_for(lambda: bool(self._clients), timeout)

    def send(
        self, envelope_type: str, payload: dict[str, Any], *, accepts_response_payload: bool = True
    ) -> str:
        """Push one envelope (``interactive``, ``events_api``, ...) to the connected clients; its id."""
        envelope_id = str(uuid.uuid4())
        message = {
            "envelope_id": envelope_id,
            "type": envelope_type,
            "payload": payload,
            "accepts_response_payload": accepts_response_payload,
        }
        data = _frame(_TEXT, json.dumps(message).encode())
        with self._lock:
            for client in self._clients:
                client.sendall(data)
        return envelope_id

    def wait_ack(self, envelope_id: str, timeout: float = 5.0) -> dict[str, Any] | None:
        """The client's acknowledgement of ``envelope_id``, once it arrives (None on timeout)."""
        with self._lock:
            self._lock.wait_for(lambda: envelope_id in self.acks, timeout)
            return self.acks.get(envelope_id)

    def _accept(self) -> None:
        while not self._closed:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            self._handshake(conn)
            hello = {"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A0FIRELINE"}}
            conn.sendall(_frame(_TEXT, json.dumps(hello).encode()))
            with self._lock:
                self._clients.append(conn)
                self._lock.notify_all()
            self._read_loop(conn)
        except (ConnectionError, OSError, ValueError):
            pass
        finally:
            with self._lock:
                if conn in self._clients:
                    self._clients.remove(conn)
            conn.close()

    @staticmethod
    def _handshake(conn: socket.socket) -> None:
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = conn.recv(1024)
            if not chunk:
                raise ConnectionError("closed during handshake")
            request += chunk
        headers = {}
        for line in request.decode("latin-1").split("\r\n")[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        key = headers.get("sec-websocket-key", "")
        accept = base64.b64encode(
            hashlib.sha1((key + _GUID).encode()).digest()
        ).decode()  # RFC 6455 asks for SHA-1
        conn.sendall(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept}\r\n\r\n".encode()
        )

    def _read_loop(self, conn: socket.socket) -> None:
        while True:
            opcode, data = _read_frame(conn)
            if opcode == _PING:
                with self._lock:
                    conn.sendall(_frame(_PONG, data))
            elif opcode == _CLOSE:
                with self._lock:
                    conn.sendall(_frame(_CLOSE, data[:2]))
                return
            elif opcode == _TEXT:
                message = json.loads(data)
                if isinstance(message, dict) and message.get("envelope_id"):
                    with self._lock:
                        self.acks[str(message["envelope_id"])] = message
                        self._lock.notify_all()
