"""Misbehaving peers on the live state path, all on loopback with free ports: a state server that
sends the client deeply nested, huge or endless documents, and clients that flood the stand-in's
server with commands. Every test is bounded in time and in what it sends.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import tracemalloc
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as connect_sync

from ppomania.game.score import GameState, Phase
from ppomania.live import state_client
from ppomania.protocol.documents import build_document, dumps
from ppomania.protocol.endpoint import WS_PRECISE
from ppomania.protocol.snapshot import TOSU_V2, GameSnapshot
from ppomania.standin.server import MAX_COMMAND_BYTES, MAX_FILTER_ITEMS, StateServer
from test_state_client import RawServer, client_for, gosu_frame, wait

DEEP = 100_000
BAD_FRAMES = [
    "[" * DEEP + "]" * DEEP,  # RecursionError in json.loads
    '{"a":' * DEEP + "1" + "}" * DEEP,
    '{"gameplay": {"score": 1' + "0" * 100_000 + "}}",  # over Python's int-digits limit
    '{"gameplay": {"score": 1' + "0" * 4000 + "}}",  # OverflowError as a float
    '{"gameplay": {"hits": {"hitErrorArray": [1, 1' + "0" * 4000 + "]}}}",
    '{"gameplay": {"score": 1e999}}',  # inf
    "\x00 not json",
    '{"menu": {"state": [[]]}}',
]
SMALL_LIMIT = 2**20  # MAX_DOCUMENT_BYTES in the tests that send more than it


def test_hostile_frames_are_counted_and_the_connection_kept() -> None:
    frames = [gosu_frame(111), *BAD_FRAMES, gosu_frame(777)]
    with RawServer(frames) as raw, client_for(raw.port) as client:
        s = wait(client, lambda s: s.state.score == 777, timeout_s=5.0)
        assert s.seq == 2 and client.malformed == len(BAD_FRAMES)
        assert client.connected and client.reconnects == 0 and raw.connections == 1


def test_oversize_frames_and_drops_reconnect_with_backoff(monkeypatch) -> None:
    monkeypatch.setattr(state_client, "MAX_DOCUMENT_BYTES", SMALL_LIMIT)
    # every connection: one good frame, then one too big to read, which ends it
    frames = [gosu_frame(111), '{"x": "' + "x" * SMALL_LIMIT + '"}']
    with RawServer(frames) as raw:
        client = state_client.StateClient(port=raw.port, backoff_initial_s=0.05, backoff_max_s=0.5)
        with client:
            time.sleep(2.0)
            connections = raw.connections
            # delays 0.05, 0.1, 0.2, 0.4, 0.5, …: about 7 in 2 s, not one every 0.05 s
            assert 3 <= connections <= 12
            assert client.malformed >= connections - 1
            raw.frames = [gosu_frame(777)]
            wait(client, lambda s: s.state.score == 777 and client.connected, timeout_s=3.0)


class EndlessV2(BaseHTTPRequestHandler):
    """``GET /json/v2``: a body without length that goes on for ``SENT`` bytes (then the
    connection closes), or, once ``good`` is set, a tosu-v2 document."""

    SENT = 32 * SMALL_LIMIT
    good: bytes | None = None
    requests = 0

    def do_GET(self) -> None:
        if self.path != "/json/v2":
            self.send_error(404)
            return
        type(self).requests += 1
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if self.good is not None:
            self.send_header("Content-Length", str(len(self.good)))
            self.end_headers()
            self.wfile.write(self.good)
            return
        self.end_headers()
        chunk = b'{"play": {"score": "' + b"9" * 65_536
        try:
            for _ in range(self.SENT // len(chunk)):
                self.wfile.write(chunk)
        except OSError:  # the client hung up: the point
            pass

    def log_message(self, *args: object) -> None:
        pass


def test_endless_http_body_is_capped_then_retried(monkeypatch) -> None:
    monkeypatch.setattr(state_client, "MAX_DOCUMENT_BYTES", SMALL_LIMIT)
    monkeypatch.setattr(EndlessV2, "good", None)
    monkeypatch.setattr(EndlessV2, "requests", 0)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), EndlessV2)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    tracemalloc.start()
    try:
        with client_for(httpd.server_address[1], transport="http", poll_interval_s=0.02) as client:
            assert client.wait_for(lambda _: client.malformed >= 3, timeout_s=5.0)
            peak_mb = tracemalloc.get_traced_memory()[1] / 2**20
            assert peak_mb < 8, f"{peak_mb:.0f} MB for bodies cut at 1 MB"
            assert EndlessV2.requests <= client.malformed + 1  # one body, one retry
            snapshot = GameSnapshot(state=GameState(time_ms=1000, phase=Phase.PLAYING, score=55))
            EndlessV2.good = dumps(build_document(snapshot, TOSU_V2)).encode()
            s = wait(client, lambda s: s.state.score == 55, timeout_s=3.0)
            assert client.connected_via == "http" and s.source == TOSU_V2
    finally:
        tracemalloc.stop()
        httpd.shutdown()
        thread.join()


def test_standin_refuses_oversize_and_overlong_commands() -> None:
    with StateServer(port=0) as server:
        url = f"ws://127.0.0.1:{server.port}{WS_PRECISE}"
        with connect_sync(url, proxy=None) as ws:
            too_many = json.dumps(["play"] * (MAX_FILTER_ITEMS + 1), separators=(",", ":"))
            ws.send(f"applyFilters:{too_many}")
            assert "more than" in json.loads(ws.recv(timeout=2))["message"]
            ws.send("applyFilters:" + "[" * 5_000 + "]" * 5_000)
            assert "nested" in json.loads(ws.recv(timeout=2))["message"]
            ws.send(b"\xff\xfe")
            assert json.loads(ws.recv(timeout=2))["message"] == "not UTF-8"
        with connect_sync(url, proxy=None) as ws:
            ws.send("applyFilters:" + json.dumps(["x"] * MAX_COMMAND_BYTES))
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=2)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


def _precise_rate(port: int, seconds: float) -> float:
    """Precise frames per second one plain client receives."""
    with connect_sync(f"ws://127.0.0.1:{port}{WS_PRECISE}", proxy=None) as ws:
        ws.recv(timeout=2)
        count, end = 0, time.monotonic() + seconds
        while time.monotonic() < end:
            ws.recv(timeout=2)
            count += 1
    return count / seconds


class Flood:
    """``clients`` sockets on the precise channel, each sending 60,000-item ``applyFilters``
    messages (reconnecting when the server closes it) until stopped, at most ``limit`` each."""

    def __init__(self, port: int, clients: int = 4, limit: int = 200) -> None:
        self.url = f"ws://127.0.0.1:{port}{WS_PRECISE}"
        self.clients, self.limit = clients, limit
        self.message = "applyFilters:" + json.dumps(["state"] * 60_000)
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _client(self) -> None:
        left = self.limit
        while left > 0:
            try:
                async with connect(self.url, proxy=None, max_size=None, close_timeout=0.5) as ws:
                    while left > 0:
                        await ws.send(self.message)
                        self.sent += 1
                        left -= 1
                        await asyncio.sleep(0)
            except (ConnectionClosed, OSError):
                await asyncio.sleep(0.01)

    async def _main(self) -> None:
        tasks = [asyncio.create_task(self._client()) for _ in range(self.clients)]
        while not self._stop.is_set() and not all(task.done() for task in tasks):
            await asyncio.sleep(0.05)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def __enter__(self) -> Flood:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


def test_standin_precise_feed_keeps_its_rate_under_a_command_flood() -> None:
    snapshot = GameSnapshot(state=GameState(time_ms=1000, phase=Phase.PLAYING), state_code=2)
    with StateServer(port=0, provider=lambda: snapshot) as server:
        baseline = _precise_rate(server.port, 1.5)
        with Flood(server.port) as flood:
            time.sleep(0.3)
            flooded = _precise_rate(server.port, 2.0)
        assert flood.sent > 20
        assert flooded > baseline / 2, f"{flooded:.0f}/s under the flood, {baseline:.0f}/s before"
