"""Live game state from tosu or gosumemory: a background client that keeps the newest reading.

:class:`StateClient` runs its own asyncio loop in a daemon thread and swaps in a new immutable
:class:`LiveState` for every frame, so :meth:`StateClient.latest` is one attribute read (well under
a microsecond; see :func:`measure_read_cost`) and never blocks.

Which server is there is found out on every (re)connection, since the user may switch tools:

1. WebSocket ``/websocket/v2``: accepted → tosu. ``/websocket/v2/precise`` is opened beside it (hit
   errors every ~10 ms) unless ``precise=False``.
2. The server answered with an HTTP status instead (gosumemory has no such route) → WebSocket
   ``/ws``, without keepalive pings since gosumemory never answers them. Its first document says
   gosumemory, or tosu when it carries tosu's ``client`` key.
3. ``/ws`` refused with an HTTP status too → poll ``GET /json/v2`` (tosu), else ``GET /json``, every
   ``poll_interval_s`` with the standard library's ``http.client``.

A refused or dropped connection is retried with exponential backoff (``backoff_initial_s``
doubling up to ``backoff_max_s``; back to the start only after a session that took a good document
and lasted ``backoff_max_s``), logged, counted in :attr:`StateClient.reconnects` and shown by
:attr:`StateClient.connected` and :attr:`StateClient.last_error`. Empty, unparsable, mistyped,
too deeply nested or out-of-range frames are logged (at most one warning per 5 s), counted in
:attr:`StateClient.malformed` and skipped; a frame or HTTP body over :data:`MAX_DOCUMENT_BYTES` is
counted too, but ends the connection (its rest cannot be skipped), which is then retried.

Phases follow ``specs/game-state-api.md`` §7, see
:class:`ppomania.protocol.phases.PhaseTracker`; the documents are parsed by
:mod:`ppomania.protocol.parse`.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosedError, InvalidHandshake, InvalidStatus
from websockets.frames import CloseCode

from ppomania.game.rules import Mods
from ppomania.game.score import GameState, Phase
from ppomania.protocol.endpoint import DEFAULT_PORT, HTTP_V1, HTTP_V2, WS_PRECISE, WS_V1, WS_V2
from ppomania.protocol.parse import parse_document
from ppomania.protocol.phases import PhaseTracker
from ppomania.protocol.snapshot import (
    GOSUMEMORY,
    TOSU_PRECISE,
    TOSU_V2,
    GameNotRunning,
    GameSnapshot,
    ProtocolError,
)

log = logging.getLogger(__name__)

#: Largest WebSocket frame or HTTP body read: precise frames carry every hit error of the play
#: (a few KB); this bounds the memory a misbehaving server can make the client use.
MAX_DOCUMENT_BYTES = 16 * 2**20
_WARN_EVERY_S = 5.0  # at most one malformed-frame warning per this period


@dataclass(frozen=True, eq=False)
class LiveState:
    """One immutable reading of the game. Treat ``state`` as read-only (its counts array is).

    :ivar state: the play; ``phase`` comes from the history of frames (pause, fail), not one frame.
    :ivar snapshot: the last parsed v1/v2 document (beatmap, mods, player); None before the first.
    :ivar hit_errors: hit errors of the play, from the precise channel when there is one.
    :ivar source: format of the last document (``gosumemory``, ``tosu-v1``, ``tosu-v2``).
    :ivar received_at: ``time.monotonic()`` when that document arrived (−inf before the first;
        an error document saying osu! is not running counts as a document).
    :ivar precise_at: the same for the last precise document (−inf without one).
    :ivar seq: v1/v2 documents taken so far.
    :ivar episode: plays started so far, retries included.
    :ivar new_episode: the document behind this state started that episode (precise updates that
        follow it keep the flag: compare ``episode`` numbers to count episodes).
    :ivar stale: state 2, map time running, but no counter moved for ``stale_after_ms`` (a stuck
        memory reader; a break in the map longer than that trips it too).
    :ivar game_running: False while the server answers that osu! is not running.
    :ivar interval_ms: EWMA of the interval between v1/v2 documents (None until two arrived).
    :ivar precise_interval_ms: the same for precise documents.
    """

    state: GameState
    snapshot: GameSnapshot | None = None
    hit_errors: tuple[int, ...] = ()
    source: str | None = None
    received_at: float = -math.inf
    precise_at: float = -math.inf
    seq: int = 0
    episode: int = 0
    new_episode: bool = False
    stale: bool = False
    game_running: bool = True
    interval_ms: float | None = None
    precise_interval_ms: float | None = None

    def age_s(self, now: float | None = None) -> float:
        """Seconds since this state arrived (``inf`` before the first)."""
        return (time.monotonic() if now is None else now) - self.received_at

    def map_time_ms(self, now: float | None = None) -> float:
        """Map time extrapolated to ``now`` while playing (``time + age × rate``), else as read."""
        if self.state.phase != Phase.PLAYING or self.seq == 0:
            return self.state.time_ms
        return self.state.time_ms + 1000 * self.age_s(now) * self.rate

    @property
    def rate(self) -> float:
        """Map ms per real ms in this play: the mods' rate (1 without a snapshot)."""
        return Mods(self.snapshot.mods).rate if self.snapshot else 1.0


def _ewma(previous: float | None, sample: float, alpha: float) -> float:
    return sample if previous is None else previous + alpha * (sample - previous)


class StateClient:
    """Reads tosu or gosumemory in a background thread; :meth:`latest` gives the newest state.

    :param host: server address (default ``127.0.0.1``).
    :param port: server port (default :data:`DEFAULT_PORT`, 24050).
    :param transport: ``"auto"`` (default: WebSocket, else HTTP polling), ``"websocket"`` or
        ``"http"``.
    :param precise: also read tosu's precise channel (default True).
    :param poll_interval_s: HTTP polling period (default 0.1 s; the tools refresh every 100–150 ms).
    :param connect_timeout_s: limit for one connection attempt (default 2 s).
    :param backoff_initial_s: first wait before reconnecting (default 0.1 s), doubled per failure…
    :param backoff_max_s: …up to this (default 2 s).
    :param ewma_alpha: weight of a new sample in the update-interval EWMA (default 0.1).
    :param tracker: phase rules (default :class:`PhaseTracker` with its defaults).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        *,
        transport: str = "auto",
        precise: bool = True,
        poll_interval_s: float = 0.1,
        connect_timeout_s: float = 2.0,
        backoff_initial_s: float = 0.1,
        backoff_max_s: float = 2.0,
        ewma_alpha: float = 0.1,
        tracker: PhaseTracker | None = None,
    ) -> None:
        if transport not in ("auto", "websocket", "http"):
            raise ValueError(f"transport must be auto, websocket or http, not {transport!r}")
        self.host = host
        self.port = port
        self.transport = transport
        self.precise = precise
        self.poll_interval_s = poll_interval_s
        self.connect_timeout_s = connect_timeout_s
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.ewma_alpha = ewma_alpha
        self.tracker = tracker or PhaseTracker()
        #: ``"tosu"`` or ``"gosumemory"`` once a document said so.
        self.server: str | None = None
        #: ``"websocket"`` or ``"http"`` while connected.
        self.connected_via: str | None = None
        self.connected = False
        self.reconnects = 0
        self.last_error: str | None = None
        self.malformed = 0
        self._latest = LiveState(state=GameState())
        self._ever_connected = False
        self._healthy = False
        self._precise_live = False
        self._warned_at = -math.inf
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None

    # --- public --------------------------------------------------------------------------------

    def latest(self) -> LiveState:
        """The newest state: one attribute read, never blocks."""
        return self._latest

    def wait_for(
        self, predicate: Callable[[LiveState], bool], timeout_s: float = 5.0
    ) -> LiveState | None:
        """Block until ``predicate(latest())`` holds (checked at every frame and connection
        change) and return that state, or None after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                state = self._latest
                if predicate(state):
                    return state
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(remaining)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> StateClient:
        """Start the background thread (connecting happens there; see :meth:`wait_for`)."""
        if self._thread is not None:
            raise RuntimeError("the client is already started")
        started = threading.Event()
        self._thread = threading.Thread(
            target=self._thread_main, args=(started,), name="state-client", daemon=True
        )
        self._thread.start()
        started.wait()
        return self

    def close(self) -> None:
        """Stop the thread and close the connection; returns when the thread has ended."""
        loop, task, thread = self._loop, self._task, self._thread
        if thread is None:
            return
        if loop is not None and task is not None:
            with contextlib.suppress(RuntimeError):  # the loop already ended
                loop.call_soon_threadsafe(task.cancel)
        thread.join(timeout=10.0)
        self._thread = None
        self._set_connected(False, None)

    def __enter__(self) -> StateClient:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- publishing ----------------------------------------------------------------------------

    def _publish(self, state: LiveState) -> None:
        self._latest = state  # one reference swap: readers never see a half-built state
        with self._cond:
            self._cond.notify_all()

    def _set_connected(self, connected: bool, via: str | None, error: str | None = None) -> None:
        if connected and self._ever_connected:
            self.reconnects += 1
        self._ever_connected |= connected
        self.connected, self.connected_via = connected, via
        if error is not None:
            self.last_error = error
        with self._cond:
            self._cond.notify_all()

    def _skip(self, why: object, received_at: float) -> None:
        """Count a malformed document; warn at most once per :data:`_WARN_EVERY_S`."""
        self.malformed += 1
        if received_at - self._warned_at >= _WARN_EVERY_S:
            self._warned_at = received_at
            log.warning(
                "skipped a bad frame from %s (%d so far): %s", self.url, self.malformed, why
            )

    def _on_frame(self, message: str | bytes, expected: str | None, received_at: float) -> None:
        """Parse one document and publish the new state; bad frames are logged and skipped."""
        try:
            parsed = parse_document(message, expected)
        except GameNotRunning:  # osu! closed: no play until a new one starts
            self.tracker.reset()
            current = self._latest
            idle = GameState(time_ms=current.state.time_ms, phase=Phase.MENU)
            self._publish(
                replace(
                    current,
                    state=idle,
                    game_running=False,
                    new_episode=False,
                    received_at=received_at,
                )
            )
            return
        except ProtocolError as err:
            self._skip(err, received_at)
            return
        except Exception as err:  # a frame the parser chokes on is the server's fault: skip it too
            self._skip(f"{type(err).__name__}: {err}", received_at)
            return
        self._healthy = True
        current = self._latest
        if parsed.source == TOSU_PRECISE:
            self._publish(
                replace(
                    current,
                    hit_errors=parsed.hit_errors,
                    precise_at=received_at,
                    precise_interval_ms=self._interval(
                        current.precise_interval_ms, current.precise_at, received_at
                    ),
                )
            )
            return
        self.server = GOSUMEMORY if parsed.source == GOSUMEMORY else "tosu"
        snap = parsed.snapshot
        assert snap is not None  # v1/v2 documents always carry one
        verdict = self.tracker.update(snap, received_at)
        state = replace(snap.state, phase=verdict.phase)
        state.counts.flags.writeable = False
        self._publish(
            LiveState(
                state=state,
                snapshot=snap,
                hit_errors=current.hit_errors if self._precise_live else parsed.hit_errors,
                source=parsed.source,
                received_at=received_at,
                precise_at=current.precise_at,
                seq=current.seq + 1,
                episode=verdict.episode,
                new_episode=verdict.new_episode,
                stale=verdict.stale,
                game_running=True,
                interval_ms=self._interval(current.interval_ms, current.received_at, received_at),
                precise_interval_ms=current.precise_interval_ms,
            )
        )

    def _interval(self, previous: float | None, last_at: float, now: float) -> float | None:
        if not math.isfinite(last_at):
            return previous
        return _ewma(previous, 1000 * (now - last_at), self.ewma_alpha)

    # --- the background thread ---------------------------------------------------------------

    def _thread_main(self, started: threading.Event) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._task = asyncio.current_task()
            started.set()
            await self._run()

        with contextlib.suppress(asyncio.CancelledError):
            asyncio.run(main())

    async def _run(self) -> None:
        delay = self.backoff_initial_s
        while True:
            self._healthy = False
            started = time.monotonic()
            try:
                await self._session()
                error = "the server closed the connection"
            except Exception as err:  # any failure of one session ends in a reconnect
                error = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
            # a server that sends one good frame and drops must not get a reconnect loop
            if self._healthy and time.monotonic() - started >= self.backoff_max_s:
                delay = self.backoff_initial_s
            log.warning("state server %s: %s; reconnecting in %.2f s", self.url, error, delay)
            self._set_connected(False, None, error)
            await asyncio.sleep(delay)
            delay = min(2 * delay, self.backoff_max_s)

    async def _session(self) -> None:
        if self.transport != "http":
            ws = await self._open(WS_V2)
            if ws is not None:
                await self._read_tosu(ws)
                return
            ws = await self._open(WS_V1, keepalive=False)
            if ws is not None:
                await self._read_sockets([(ws, None)], "websocket")
                return
            if self.transport == "websocket":
                raise ConnectionError(f"no WebSocket endpoint ({WS_V2}, {WS_V1})")
        await self._poll_http()

    async def _open(self, path: str, keepalive: bool = True) -> ClientConnection | None:
        """A WebSocket to ``path``, or None when the server answers without upgrading."""
        try:
            return await connect(
                f"ws://{self.host}:{self.port}{path}",
                open_timeout=self.connect_timeout_s,
                ping_interval=20.0 if keepalive else None,
                max_size=MAX_DOCUMENT_BYTES,
                compression=None,
                proxy=None,  # loopback: never through an HTTP(S)_PROXY from the environment
            )
        except InvalidHandshake as err:  # an HTTP answer, not an upgrade (404, HTTP/1.0, …)
            status = err.response.status_code if isinstance(err, InvalidStatus) else err
            log.debug("no WebSocket at %s%s: %s", self.url, path, status)
            return None

    async def _read_tosu(self, v2: ClientConnection) -> None:
        sockets: list[tuple[ClientConnection, str | None]] = [(v2, TOSU_V2)]
        if self.precise:
            try:
                precise = await self._open(WS_PRECISE)
            except BaseException:
                await v2.close()
                raise
            if precise is not None:
                sockets.append((precise, TOSU_PRECISE))
        await self._read_sockets(sockets, "websocket")

    async def _read_sockets(
        self, sockets: list[tuple[ClientConnection, str | None]], via: str
    ) -> None:
        """Read every socket until one closes; then close the others."""
        self._precise_live = any(expected == TOSU_PRECISE for _, expected in sockets)
        self._set_connected(True, via)
        readers = [asyncio.create_task(self._pump(ws, expected)) for ws, expected in sockets]
        try:
            done, _ = await asyncio.wait(readers, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # re-raise the error that ended the session
        finally:
            self._precise_live = False
            for task in readers:
                task.cancel()
            for ws, _ in sockets:
                await ws.close()

    async def _pump(self, ws: ClientConnection, expected: str | None) -> None:
        try:
            async for message in ws:
                self._on_frame(message, expected, time.monotonic())
        except ConnectionClosedError as err:
            if err.sent is not None and err.sent.code == CloseCode.MESSAGE_TOO_BIG:
                self._skip(f"a frame over {MAX_DOCUMENT_BYTES} bytes", time.monotonic())
            raise

    async def _poll_http(self) -> None:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.connect_timeout_s)
        try:
            path, expected = HTTP_V2, TOSU_V2
            status, body = await asyncio.to_thread(_get, conn, path)
            received_at = time.monotonic()
            if status == 404:
                path, expected = HTTP_V1, None
                status, body = await asyncio.to_thread(_get, conn, path)
                received_at = time.monotonic()
            self._set_connected(True, "http")
            while True:
                if status == 404:
                    raise ConnectionError(f"{self.url}{path}: HTTP 404")
                if body is None:  # _get closed the connection: retried with backoff
                    self._skip(f"a body over {MAX_DOCUMENT_BYTES} bytes", received_at)
                    raise ConnectionError(
                        f"{self.url}{path}: a body over {MAX_DOCUMENT_BYTES} bytes"
                    )
                self._on_frame(body, expected, received_at)
                await asyncio.sleep(max(0.0, received_at + self.poll_interval_s - time.monotonic()))
                status, body = await asyncio.to_thread(_get, conn, path)
                received_at = time.monotonic()
        finally:
            conn.close()


def _get(conn: http.client.HTTPConnection, path: str) -> tuple[int, bytes | None]:
    """One GET on a reused connection (http.client reopens it when the server closed it). The
    body is None, and the connection closed, when it is longer than :data:`MAX_DOCUMENT_BYTES`:
    never more than that is read, whatever the server says or sends."""
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        declared = response.length  # Content-Length, None when chunked or up to the close
        if declared is None or declared <= MAX_DOCUMENT_BYTES:
            body = response.read(MAX_DOCUMENT_BYTES + 1)  # stops at the end of the body
            if len(body) <= MAX_DOCUMENT_BYTES:
                return response.status, body
        conn.close()
        return response.status, None
    except BaseException:
        conn.close()
        raise


# --- benchmarks ----------------------------------------------------------------------------------


def measure_read_cost(client: StateClient, n: int = 200_000) -> float:
    """Mean cost of one :meth:`StateClient.latest` call in microseconds, over ``n`` calls (the
    loop's own overhead included)."""
    read = client.latest
    start = time.perf_counter()
    for _ in range(n):
        read()
    return (time.perf_counter() - start) / n * 1e6


def bench_state_client(
    duration_s: float = 5.0,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    rate_hz: float = 60.0,
) -> dict[str, Any]:
    """Read a running state server like a control loop would and report the costs.

    Connects a :class:`StateClient`, waits (up to 10 s) for the first document, then for
    ``duration_s`` reads :meth:`StateClient.latest` at ``rate_hz`` and records the state's age.
    Returns ``server``, ``transport``, ``read_cost_us`` (per call), ``age_ms_mean/p50/p95/max``
    (time since the state in hand arrived, at the sample instants), ``interval_ms`` (mean spacing of
    v1/v2 documents over the run), ``interval_ewma_ms``, ``precise_interval_ms``, ``frames``,
    ``reconnects`` and ``malformed``.
    """
    with StateClient(host, port) as client:
        if client.wait_for(lambda s: s.seq > 0, timeout_s=10.0) is None:
            raise TimeoutError(f"no game state from {client.url} within 10 s ({client.last_error})")
        first = client.latest()
        ages = []
        end = time.monotonic() + duration_s
        while (now := time.monotonic()) < end:
            ages.append(1000 * client.latest().age_s(now))
            time.sleep(1 / rate_hz)
        last = client.latest()
        read_cost_us = measure_read_cost(client)
        ages.sort()
        frames = last.seq - first.seq
        span_ms = 1000 * (last.received_at - first.received_at)
        return {
            "server": client.server,
            "transport": client.connected_via,
            "read_cost_us": round(read_cost_us, 4),
            "age_ms_mean": round(sum(ages) / len(ages), 2),
            "age_ms_p50": round(ages[len(ages) // 2], 2),
            "age_ms_p95": round(ages[int(0.95 * (len(ages) - 1))], 2),
            "age_ms_max": round(ages[-1], 2),
            "interval_ms": round(span_ms / frames, 2) if frames else None,
            "interval_ewma_ms": last.interval_ms and round(last.interval_ms, 2),
            "precise_interval_ms": last.precise_interval_ms and round(last.precise_interval_ms, 2),
            "frames": frames,
            "reconnects": client.reconnects,
            "malformed": client.malformed,
        }
