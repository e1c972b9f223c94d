"""The state client against the stand-in server (both flavors), a raw server and an HTTP-only one.

Everything runs for real on loopback with free ports. Cadences are shortened (20–30 ms instead of
100–150 ms) where a test only needs frames to flow; one test checks the real tools' defaults.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from websockets.asyncio.server import ServerConnection, serve

from ppomania.game.rules import Mods
from ppomania.game.score import GameState, Phase, accuracy
from ppomania.live.state_client import (
    LiveState,
    StateClient,
    bench_state_client,
    measure_read_cost,
)
from ppomania.protocol.documents import build_document, dumps
from ppomania.protocol.phases import PhaseTracker
from ppomania.protocol.snapshot import GOSUMEMORY, TOSU_V2, BeatmapInfo, GameSnapshot
from ppomania.standin.server import StateServer

MD5 = "3f1a9c0d5b7e4f2a8c6d1e9b0a7f5c3d"
BEATMAP = BeatmapInfo(md5=MD5, keys=4, od=8.0, file="map.osu", first_object_ms=0)


class FakeGame:
    """Plays like the stand-in window will: map time runs in real time while playing, one MAX per
    50 ms of map time, and the state goes to the server every 5 ms."""

    NOTE_MS = 50

    def __init__(self, server: StateServer) -> None:
        self.server = server
        self._lock = threading.Lock()
        self._phase = Phase.MENU
        self._base_ms, self._since, self._running = -1000.0, time.monotonic(), False
        self._misses, self._hp = 0, 1.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._push, daemon=True)

    def __enter__(self) -> FakeGame:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _map_time(self) -> float:
        elapsed = time.monotonic() - self._since if self._running else 0.0
        return self._base_ms + 1000 * elapsed

    def _clock(self, phase: Phase, base_ms: float | None = None, running: bool = False) -> None:
        with self._lock:
            self._base_ms = self._map_time() if base_ms is None else base_ms
            self._since, self._running, self._phase = time.monotonic(), running, phase

    def play(self) -> None:
        with self._lock:
            self._misses, self._hp = 0, 1.0
        self._clock(Phase.PLAYING, -200.0, running=True)

    retry = play

    def pause(self) -> None:
        self._clock(Phase.PAUSED)

    def resume(self) -> None:
        self._clock(Phase.PLAYING, running=True)

    def fail(self) -> None:
        with self._lock:
            self._misses, self._hp = 5, 0.0
        self._clock(Phase.FAILED)

    def results(self) -> None:
        self._clock(Phase.RESULTS)

    def menu(self) -> None:
        self._clock(Phase.MENU)

    def snapshot(self) -> GameSnapshot:
        with self._lock:
            t = self._map_time()
            hits = max(0, int(t // self.NOTE_MS))
            counts = np.array([hits, 0, 0, 0, 0, self._misses], dtype=np.int64)
            combo = 0 if self._misses else hits
            state = GameState(
                t, self._phase, combo, hits, 1000 * hits, accuracy(counts), counts, self._hp
            )
            return GameSnapshot(
                state=state, beatmap=BEATMAP, player_name="bot", hit_errors=(0,) * hits
            )

    def _push(self) -> None:
        while not self._stop.is_set():
            self.server.update(self.snapshot())
            time.sleep(0.005)


def fast_server(flavor: str) -> StateServer:
    return StateServer(flavor, port=0, update_ms=20, poll_rate_ms=30, precise_rate_ms=5)


def client_for(port: int, **kwargs: object) -> StateClient:
    return StateClient(port=port, backoff_initial_s=0.05, backoff_max_s=0.2, **kwargs)


def wait(
    client: StateClient, predicate: Callable[[LiveState], bool], timeout_s: float = 3.0
) -> LiveState:
    state = client.wait_for(predicate, timeout_s)
    latest = client.latest()
    assert state is not None, f"timed out; latest: {latest.state}, connected={client.connected}"
    return state


def phase_is(phase: Phase, **more: Callable[[LiveState], bool]) -> Callable[[LiveState], bool]:
    return lambda s: s.state.phase == phase and all(check(s) for check in more.values())


@pytest.mark.parametrize("flavor", ["tosu", "gosumemory"])
def test_detects_flavor_and_follows_phases(flavor: str) -> None:
    with fast_server(flavor) as server, FakeGame(server) as game, client_for(server.port) as client:
        game.play()
        s = wait(client, phase_is(Phase.PLAYING, scored=lambda s: s.state.score > 0))
        assert client.server == flavor and client.connected_via == "websocket"
        assert s.source == (TOSU_V2 if flavor == "tosu" else GOSUMEMORY)
        assert s.snapshot.beatmap.md5 == MD5 and s.snapshot.player_name == "bot"
        first_episode = s.episode
        assert first_episode == 1

        game.pause()
        paused = wait(client, phase_is(Phase.PAUSED))
        game.resume()
        wait(client, phase_is(Phase.PLAYING, on=lambda s: s.state.time_ms > paused.state.time_ms))

        game.retry()
        s = wait(client, lambda s: s.episode == 2)
        assert s.new_episode
        s = wait(client, phase_is(Phase.PLAYING, scored=lambda s: s.state.score > 0))
        assert s.episode == 2  # the time jump and the zeroed counters count as one retry

        game.fail()
        wait(client, phase_is(Phase.FAILED))
        game.retry()
        wait(client, phase_is(Phase.PLAYING, new=lambda s: s.episode == 3))

        wait(client, lambda s: s.state.score >= 3000)
        game.results()
        s = wait(client, phase_is(Phase.RESULTS))
        assert s.state.score >= 3000 and s.snapshot.state_code == 7
        game.menu()
        s = wait(client, phase_is(Phase.MENU))
        assert s.snapshot.state_code == 5 and s.episode == 3


@pytest.mark.parametrize("flavor", ["tosu", "gosumemory"])
def test_age_interval_and_immutable_states(flavor: str) -> None:
    period_ms = 30 if flavor == "tosu" else 20
    with fast_server(flavor) as server, FakeGame(server) as game, client_for(server.port) as client:
        game.play()
        first = wait(client, lambda s: s.seq >= 1 and s.state.score > 0)
        score, counts = first.state.score, first.state.counts.copy()
        last = wait(client, lambda s: s.seq >= first.seq + 15)
        assert last.interval_ms == pytest.approx(period_ms, rel=0.5)
        assert 0 <= last.age_s() < 1.0
        assert last.map_time_ms() >= last.state.time_ms
        # earlier states are never changed in place
        assert first.state.score == score and (first.state.counts == counts).all()
        assert not first.state.counts.flags.writeable
        if flavor == "tosu":
            assert last.precise_interval_ms == pytest.approx(5, abs=10)
            assert len(last.hit_errors) > 0
        assert measure_read_cost(client, 20_000) < 5.0


@pytest.mark.parametrize(("flavor", "period_ms"), [("tosu", 150), ("gosumemory", 100)])
def test_default_cadence_is_the_real_tools(flavor: str, period_ms: float) -> None:
    with StateServer(flavor, port=0) as server, FakeGame(server) as game:
        game.play()
        with client_for(server.port) as client:
            first = wait(client, lambda s: s.seq >= 1)
            last = wait(client, lambda s: s.seq >= first.seq + 8, timeout_s=5.0)
            span_ms = 1000 * (last.received_at - first.received_at) / (last.seq - first.seq)
            assert span_ms == pytest.approx(period_ms, rel=0.15)
            if flavor == "tosu":
                assert last.precise_interval_ms == pytest.approx(10, rel=0.5)


@pytest.mark.parametrize("flavor", ["tosu", "gosumemory"])
def test_frames_carry_state_lag_ms_old(flavor: str) -> None:
    def clock_game() -> GameSnapshot:  # the true clock, in ms, as map time and as score
        now_ms = 1000 * time.monotonic()
        return GameSnapshot(
            state=GameState(time_ms=now_ms, phase=Phase.PLAYING, score=round(now_ms))
        )

    periods = dict(update_ms=60, poll_rate_ms=60, precise_rate_ms=10, lag_ms=30)
    server = StateServer(flavor, port=0, provider=clock_game, **periods)
    with server, client_for(server.port) as client:
        count_ages, time_ages, seq = [], [], 0
        for _ in range(12):
            s = wait(client, lambda s, seq=seq: s.seq > seq)
            seq = s.seq
            count_ages.append(1000 * s.received_at - s.state.score)
            time_ages.append(1000 * s.received_at - s.state.time_ms)
    assert np.median(count_ages) == pytest.approx(30, abs=10)
    # tosu reads map time on its precise loop (10 ms): it is fresher than the counts
    expected_time_age = 5 if flavor == "tosu" else 30
    assert np.median(time_ages) == pytest.approx(expected_time_age, abs=10)


@pytest.mark.parametrize("flavor", ["tosu", "gosumemory"])
def test_reconnects_after_the_server_restarts(flavor: str) -> None:
    server = fast_server(flavor).start()
    try:
        with FakeGame(server) as game, client_for(server.port) as client:
            game.play()
            wait(client, lambda s: s.state.score > 0)
            assert client.reconnects == 0

            server.stop()  # mid-song
            wait(client, lambda _: not client.connected)
            assert client.last_error
            seq = client.latest().seq

            server.start()
            s = wait(client, lambda s: client.connected and s.seq > seq, timeout_s=5.0)
            assert client.reconnects == 1 and s.state.phase == Phase.PLAYING
    finally:
        server.stop()


def test_server_guards() -> None:
    for host in ("0.0.0.0", "192.168.1.2", "example.com"):
        with pytest.raises(ValueError, match="loopback"):
            StateServer(host=host)
    with pytest.raises(ValueError, match="lag_ms"):
        StateServer("gosumemory", lag_ms=100)
    with StateServer(port=0) as first, pytest.raises(OSError):
        StateServer(port=first.port).start()


class RawServer:
    """A WebSocket server on ``/ws`` only (404 elsewhere, like gosumemory) sending given frames
    (``frames`` is read anew for every connection; ``connections`` counts them)."""

    def __init__(self, frames: list[str | bytes]) -> None:
        self.frames = frames
        self.connections = 0
        self.port = 0
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._done: asyncio.Event | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        self._loop, self._done = asyncio.get_running_loop(), asyncio.Event()

        def only_ws(connection: ServerConnection, request: object):
            return None if request.path == "/ws" else connection.respond(404, "not found")

        async def handler(ws: ServerConnection) -> None:
            self.connections += 1
            for frame in self.frames:
                await ws.send(frame)
            await ws.wait_closed()

        async with serve(handler, "127.0.0.1", 0, process_request=only_ws) as server:
            self.port = server.sockets[0].getsockname()[1]
            self._ready.set()
            await self._done.wait()

    def __enter__(self) -> RawServer:
        self._thread.start()
        self._ready.wait(5)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._done.set)
        self._thread.join(5)


def gosu_frame(score: int) -> str:
    state = GameState(time_ms=1000, phase=Phase.PLAYING, score=score)
    return dumps(build_document(GameSnapshot(state=state), GOSUMEMORY), GOSUMEMORY)


def test_malformed_frames_are_skipped() -> None:
    bad: list[str | bytes] = [
        "",
        "{not json",
        "[1, 2]",
        '{"hello": 1}',
        '{"menu": {"state": "x"}}',
        b"\xff\xfe\x00",
    ]
    with RawServer([gosu_frame(111), *bad, gosu_frame(777)]) as raw, client_for(raw.port) as client:
        s = wait(client, lambda s: s.state.score == 777)
        assert s.seq == 2 and client.malformed == len(bad)
        assert client.connected and client.server == "gosumemory"


class JsonOnly(BaseHTTPRequestHandler):
    """Serves ``GET /json`` only: no WebSocket, no ``/json/v2``."""

    body = b""

    def do_GET(self) -> None:
        if self.path != "/json":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


NOT_LOADED = b'{"error": "osu! is not fully loaded!"}'


def test_http_fallback_when_only_json_is_served() -> None:
    JsonOnly.body = NOT_LOADED
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), JsonOnly)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        with client_for(httpd.server_address[1], poll_interval_s=0.02) as client:
            wait(client, lambda s: not s.game_running)
            assert client.connected_via == "http"
            JsonOnly.body = gosu_frame(500).encode()
            s = wait(client, lambda s: s.game_running and s.state.score == 500)
            assert client.server == "gosumemory" and s.episode == 1
            # the same document again and again: map time frozen in state 2 → paused
            assert wait(client, phase_is(Phase.PAUSED)).seq > s.seq
            JsonOnly.body = NOT_LOADED  # osu! closed mid-play
            assert wait(client, phase_is(Phase.MENU, gone=lambda s: not s.game_running))
            JsonOnly.body = gosu_frame(600).encode()
            assert wait(client, lambda s: s.state.score == 600).episode == 2
    finally:
        httpd.shutdown()
        thread.join()


@pytest.mark.parametrize("flavor", ["tosu", "gosumemory"])
def test_bench_state_client(flavor: str) -> None:
    with fast_server(flavor) as server, FakeGame(server) as game:
        game.play()
        result = bench_state_client(0.5, port=server.port)
    assert result["server"] == flavor and result["transport"] == "websocket"
    assert result["frames"] > 5 and result["reconnects"] == 0 and result["malformed"] == 0
    assert 0 < result["read_cost_us"] < 5 and 0 <= result["age_ms_mean"] <= result["age_ms_max"]


def snap(t: float, judged: int = 0, hp: float = 1.0, code: int = 2, mods: int = 0) -> GameSnapshot:
    counts = np.array([judged, 0, 0, 0, 0, 0], dtype=np.int64)
    state = GameState(t, Phase.PLAYING, judged, judged, 100 * judged, 1.0, counts, hp)
    return GameSnapshot(state=state, state_code=code, mods=mods)


def test_tracker_ignores_the_zero_hp_of_a_reset() -> None:
    tracker = PhaseTracker()
    tracker.update(snap(5000, 40), 0.0)
    # tosu/gosumemory zero the play on retry, HP included, and refill it on the next poll
    v = tracker.update(snap(-1500, 0, hp=0.0), 0.1)
    assert v.new_episode and v.phase == Phase.PLAYING
    assert tracker.update(snap(-1400, 0, hp=1.0), 0.2).phase == Phase.PLAYING


def test_tracker_fail_needs_two_frames_and_no_nofail() -> None:
    tracker = PhaseTracker()
    tracker.update(snap(5000, 40), 0.0)
    assert tracker.update(snap(5100, 41, hp=0.0), 0.1).phase == Phase.PLAYING
    assert tracker.update(snap(5200, 42, hp=0.0), 0.2).phase == Phase.FAILED
    nofail = PhaseTracker()
    for i in range(4):
        v = nofail.update(snap(5000 + 100 * i, 40 + i, hp=0.0, mods=int(Mods.NO_FAIL)), i / 10)
    assert v.phase == Phase.PLAYING


def test_tracker_retry_signals_count_once() -> None:
    tracker = PhaseTracker(retry_window_s=1.0)
    tracker.update(snap(5000, 40), 0.0)
    assert tracker.update(snap(5100, 0), 0.1).new_episode  # zeroed before the clock jumps
    assert not tracker.update(snap(-1500, 0), 0.2).new_episode  # the same retry
    assert tracker.update(snap(3000, 40), 0.7).episode == 2
    assert tracker.update(snap(-1400, 40), 0.8).new_episode  # clock first, counters later (tosu)
    assert not tracker.update(snap(-1300, 0), 0.9).new_episode
    assert tracker.update(snap(-2000, 0), 1.0).new_episode  # retried again at once: a new drop
    assert tracker.episode == 4
    assert tracker.update(snap(3000, 0, code=5), 3.0).phase == Phase.MENU
    assert tracker.update(snap(-1500, 0), 3.1).episode == 5  # a new play


def test_tracker_flags_a_stuck_reader() -> None:
    tracker = PhaseTracker(stale_after_ms=5000)
    times = range(-1000, 6001, 100)
    verdicts = [tracker.update(snap(t, 0), t / 1000) for t in times]
    # counted from the first object (0 ms) on, not from the lead-in
    assert [v.stale for v in verdicts] == [t >= 5000 for t in times]
    assert not tracker.update(snap(6100, 1), 6.1).stale
