"""A gosumemory- or tosu-compatible game-state server for the stand-in game (spec §8).

The stand-in window calls :meth:`StateServer.update` with a :class:`GameSnapshot` every frame; the
server serves it on ``127.0.0.1`` (loopback only), port :data:`DEFAULT_PORT` (24050), as one of the
two real tools would:

- ``flavor="gosumemory"``: ``GET /json`` and WebSocket ``/ws`` with the v1 document. A reader
  samples the game every ``update_ms`` (default 100); every ``update_ms`` the document is
  marshalled into a cache that ``GET /json`` returns and ``/ws`` sends, the first right after the
  upgrade. Messages from clients are never read. Without a game, ``/json`` answers 200 with its
  error document and ``/ws`` sends nothing.
- ``flavor="tosu"``: ``/json`` + ``/ws`` (tosu's v1), ``/json/v2`` + ``/websocket/v2`` and
  ``/json/v2/precise`` + ``/websocket/v2/precise``. A regular reader samples counts, combo, score,
  accuracy and HP every ``poll_rate_ms`` (default 150); a precise reader samples state, map time and
  hit errors every ``precise_rate_ms`` (default 10). ``/ws`` and ``/websocket/v2`` send every
  ``poll_rate_ms``, precise every ``precise_rate_ms``; ``GET`` builds the document on request.
  ``applyFilters:<json array>`` is honoured per socket. Without a game, ``/json*`` answer 500 with
  tosu's error document and the sockets send nothing.

Commands are bounded so that a flood of them cannot slow the feeds down: a message over
:data:`MAX_COMMAND_BYTES` closes its connection (1009) without its payload being read, and a filter
list nested deeper than :data:`ppomania.protocol.parse.MAX_DEPTH` or longer than
:data:`MAX_FILTER_ITEMS` items is refused with an error reply, so no command and no filtered frame
costs more than a few hundred lookups. tosu has no such limits; real commands are a few hundred
bytes.

Lag: the real tools' reader and sender loops run unsynchronised, so a count is 0…1 period old when
sent, and 0…2 periods (mean one period) old when a client reads it (spec §5). Here the senders run
``lag_ms`` after the readers (default: half the regular period, the mean of that random phase), so
each frame carries a sample exactly ``lag_ms`` old, and a client reading at a random moment sees it
``lag_ms`` + 0…1 period old: on average one period, as with the real tools. Deviations: pings are
answered in both flavors (gosumemory never answers them), and tosu's wait of up to 500 ms before the
first frame is not reproduced.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from ppomania.protocol.build_v2 import build_tosu_precise
from ppomania.protocol.documents import (
    NOT_READY_BODY,
    build_document,
    dumps,
    filter_document,
    filter_items,
)
from ppomania.protocol.endpoint import (
    DEFAULT_PORT,
    HTTP_PRECISE,
    HTTP_V1,
    HTTP_V2,
    WS_PRECISE,
    WS_V1,
    WS_V2,
)
from ppomania.protocol.parse import check_depth
from ppomania.protocol.snapshot import (
    GOSUMEMORY,
    TOSU_PRECISE,
    TOSU_V1,
    TOSU_V2,
    GameSnapshot,
    ProtocolError,
    with_state,
)

log = logging.getLogger(__name__)

FLAVORS = ("tosu", "gosumemory")

#: Largest message read from a client.
MAX_COMMAND_BYTES = 16 * 2**10
#: Most items, nested ones included, of one ``applyFilters`` list: more than a v2 document has
#: fields (~330, nested ones included).
MAX_FILTER_ITEMS = 512

_ROUTES = {
    "gosumemory": ({HTTP_V1: GOSUMEMORY}, {WS_V1: GOSUMEMORY}),
    "tosu": (
        {HTTP_V1: TOSU_V1, HTTP_V2: TOSU_V2, HTTP_PRECISE: TOSU_PRECISE},
        {WS_V1: TOSU_V1, WS_V2: TOSU_V2, WS_PRECISE: TOSU_PRECISE},
    ),
}


def _check_loopback(host: str) -> None:
    if host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"the stand-in server listens on loopback only, not on {host!r}")


def _merge(regular: GameSnapshot, precise: GameSnapshot) -> GameSnapshot:
    """tosu's view: state, map time and hit errors from the precise reader, the rest from the
    regular one."""
    if regular is precise:
        return regular
    state = replace(regular.state, time_ms=precise.state.time_ms, phase=precise.state.phase)
    return replace(
        regular, state=state, state_code=precise.state_code, hit_errors=precise.hit_errors
    )


class StateServer:
    """Serves the stand-in game's state as gosumemory or tosu do, from a background thread.

    :param flavor: ``"tosu"`` (default) or ``"gosumemory"``.
    :param port: TCP port (default :data:`DEFAULT_PORT`; 0 picks a free one, kept across stop and
        start).
    :param host: a loopback address (default ``127.0.0.1``); anything else raises ValueError.
    :param provider: called by the readers for the current snapshot instead of the last
        :meth:`update` (it must be thread-safe; None = use :meth:`update`).
    :param update_ms: gosumemory's ``update`` period (default 100).
    :param poll_rate_ms: tosu's ``POLL_RATE`` (default 150; 100 before tosu 4.23).
    :param precise_rate_ms: tosu's ``PRECISE_DATA_POLL_RATE`` (default 10).
    :param lag_ms: age of the sampled state in every frame sent, in (0, regular period); None =
        half the regular period (tosu 75 ms, gosumemory 50 ms).
    :param legacy_precise: add ``currentTime`` to precise documents, as tosu 2.8–4.22 did (default
        False).
    """

    def __init__(
        self,
        flavor: str = "tosu",
        port: int = DEFAULT_PORT,
        host: str = "127.0.0.1",
        *,
        provider: Callable[[], GameSnapshot | None] | None = None,
        update_ms: float = 100.0,
        poll_rate_ms: float = 150.0,
        precise_rate_ms: float = 10.0,
        lag_ms: float | None = None,
        legacy_precise: bool = False,
    ) -> None:
        if flavor not in FLAVORS:
            raise ValueError(f"unknown flavor {flavor!r}; expected one of {', '.join(FLAVORS)}")
        _check_loopback(host)
        self.flavor = flavor
        self.host = host
        self.port = port
        self.legacy_precise = legacy_precise
        self._provider = provider or (lambda: self._snapshot)
        self._http_routes, self._ws_routes = _ROUTES[flavor]
        gosu = flavor == "gosumemory"
        self._period_s = {
            GOSUMEMORY: update_ms / 1000,
            TOSU_V1: poll_rate_ms / 1000,
            TOSU_V2: poll_rate_ms / 1000,
            TOSU_PRECISE: precise_rate_ms / 1000,
        }
        self._regular_period_s = (update_ms if gosu else poll_rate_ms) / 1000
        self._precise_period_s = precise_rate_ms / 1000
        self._lag_s = self._regular_period_s / 2 if lag_ms is None else lag_ms / 1000
        if not 0 < self._lag_s < self._regular_period_s:
            raise ValueError(f"lag_ms must be in (0, {1000 * self._regular_period_s:g})")
        self._snapshot: GameSnapshot | None = None
        self._regular: GameSnapshot | None = None
        self._precise: GameSnapshot | None = None
        self._cache: str | None = None  # gosumemory's marshalled document
        self._clients: dict[str, set[ServerConnection]] = {path: set() for path in self._ws_routes}
        self._filters: dict[ServerConnection, list[Any]] = {}
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None

    # --- the game side -------------------------------------------------------------------------

    def update(self, snapshot: GameSnapshot | None) -> None:
        """Publish the game's current state; None means osu! is not running. Thread-safe and cheap
        (a copy of the play state and one reference swap), so the window can call it every frame
        and keep mutating its own :class:`GameState`."""
        self._snapshot = None if snapshot is None else with_state(snapshot, snapshot.state)

    # --- lifecycle -----------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> StateServer:
        """Bind and serve from a background thread; returns once listening (raises OSError if the
        port is taken). Can be called again after :meth:`stop`."""
        if self.running:
            raise RuntimeError("the server is already running")
        ready = threading.Event()
        errors: list[BaseException] = []
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._main(ready, errors)),
            name=f"standin-{self.flavor}-server",
            daemon=True,
        )
        self._thread.start()
        if not ready.wait(timeout=10.0):
            raise TimeoutError("the state server did not start within 10 s")
        if errors:
            self._thread.join()
            raise errors[0]
        log.info("%s state server on %s", self.flavor, self.url)
        return self

    def stop(self) -> None:
        """Close every connection (1001 going away) and the listening socket; joins the thread."""
        loop, stopping, thread = self._loop, self._stopping, self._thread
        if thread is None:
            return
        if loop is not None and stopping is not None:
            with contextlib.suppress(RuntimeError):  # the loop already ended
                loop.call_soon_threadsafe(stopping.set)
        thread.join(timeout=10.0)
        self._thread = None

    def __enter__(self) -> StateServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _main(self, ready: threading.Event, errors: list[BaseException]) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        self._regular = self._precise = None
        self._cache = None
        try:
            server = await serve(
                self._handler,
                self.host,
                self.port,
                process_request=self._process_request,
                compression=None,
                ping_interval=None,
                max_size=MAX_COMMAND_BYTES,
                logger=log,
            )
        except OSError as err:
            errors.append(err)
            ready.set()
            return
        async with server:
            self.port = server.sockets[0].getsockname()[1]
            tasks = [asyncio.create_task(coro) for coro in self._loops()]
            ready.set()
            await self._stopping.wait()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    # --- loops ---------------------------------------------------------------------------------

    def _loops(self) -> list[Any]:
        start = asyncio.get_running_loop().time()
        loops = [self._every(self._regular_period_s, self._read_regular, start)]
        if self.flavor == "tosu":
            loops.append(self._every(self._precise_period_s, self._read_precise, start))
        for path, source in self._ws_routes.items():
            send = self._sender(path, source)
            loops.append(self._every(self._period_s[source], send, start + self._lag_s))
        return loops

    @staticmethod
    async def _every(period_s: float, action: Callable[[], None], first_at: float) -> None:
        """Run ``action`` at ``first_at`` and every ``period_s`` after (no drift, no bursts)."""
        loop = asyncio.get_running_loop()
        next_at = first_at
        await asyncio.sleep(max(0.0, next_at - loop.time()))
        while True:
            try:
                action()
            except Exception:  # a bad snapshot must not stop the loop for good
                log.exception("state server loop failed")
            next_at += period_s
            delay = next_at - loop.time()
            if delay < 0:
                next_at, delay = loop.time(), 0.0
            await asyncio.sleep(delay)

    def _read_regular(self) -> None:
        self._regular = self._provider()
        if self.flavor == "gosumemory":  # one reader for everything
            self._precise = self._regular

    def _read_precise(self) -> None:
        self._precise = self._provider()

    def _view(self) -> GameSnapshot | None:
        regular, precise = self._regular, self._precise
        if regular is None or precise is None:
            return None
        return _merge(regular, precise)

    def _document(self, source: str) -> dict[str, Any] | None:
        view = self._view()
        if view is None:
            return None
        if source == TOSU_PRECISE:
            return build_tosu_precise(view, legacy_time=self.legacy_precise)
        return build_document(view, source)

    def _sender(self, path: str, source: str) -> Callable[[], None]:
        def send() -> None:
            clients = self._clients[path]
            if source == GOSUMEMORY:  # marshal even without clients: GET /json serves the cache
                view = self._view()
                self._cache = (
                    None if view is None else dumps(build_document(view, GOSUMEMORY), source)
                )
                if clients and self._cache is not None:
                    broadcast(clients, self._cache)
                return
            doc = self._document(source) if clients else None
            if doc is None:
                return
            plain = [ws for ws in clients if ws not in self._filters]
            if plain:
                broadcast(plain, dumps(doc, source))
            for ws, filters in list(self._filters.items()):
                if ws in clients:
                    broadcast([ws], dumps(filter_document(doc, filters), source))

        return send

    # --- connections ---------------------------------------------------------------------------

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        """Plain HTTP GETs on the same port, as tosu and gosumemory serve ``/json``."""
        path = urlsplit(request.path).path
        if path in self._ws_routes and request.headers.get("Upgrade", "").lower() == "websocket":
            return None
        source = self._http_routes.get(path)
        if source is None:
            return connection.respond(404, "404 page not found\n")
        if source == GOSUMEMORY:
            if self._cache is None:  # gosumemory: status 200, not JSON-typed
                return connection.respond(200, json.dumps(NOT_READY_BODY[GOSUMEMORY]))
            return _json_response(connection, 200, self._cache)
        doc = self._document(source)
        if doc is None:
            return _json_response(connection, 500, dumps(NOT_READY_BODY[source], source))
        return _json_response(connection, 200, dumps(doc, source))

    async def _handler(self, ws: ServerConnection) -> None:
        path = urlsplit(ws.request.path).path
        clients = self._clients[path]
        clients.add(ws)
        try:
            if self.flavor == "gosumemory":
                if self._cache is not None:  # the first frame right after the upgrade
                    await ws.send(self._cache)
                await ws.wait_closed()  # gosumemory never reads from the socket
            else:
                async for message in ws:
                    await self._command(ws, message)
        except ConnectionClosed:
            pass
        finally:
            clients.discard(ws)
            self._filters.pop(ws, None)

    async def _command(self, ws: ServerConnection, message: str | bytes) -> None:
        """tosu's ``command:payload`` messages; only ``applyFilters`` is implemented (no reply)."""
        try:
            text = message.decode() if isinstance(message, bytes) else message
        except UnicodeDecodeError:
            await ws.send(json.dumps({"command": "", "message": "not UTF-8"}))
            return
        name, _, payload = text.partition(":")
        if name == "applyFilters":
            try:
                check_depth(payload)
                filters = json.loads(payload)
                if not isinstance(filters, list):
                    raise ProtocolError("applyFilters expects a JSON array")
                if filter_items(filters) > MAX_FILTER_ITEMS:
                    raise ProtocolError(f"applyFilters: more than {MAX_FILTER_ITEMS} items")
                filter_document({}, filters)  # validate the items
            except (ValueError, ProtocolError) as err:
                await ws.send(json.dumps({"command": name, "message": str(err)}))
                return
            self._filters[ws] = filters
            return
        await ws.send(json.dumps({"command": name, "message": "unknown command"}))


def _json_response(connection: ServerConnection, status: int, text: str) -> Response:
    response = connection.respond(status, text)
    del response.headers["Content-Type"]
    response.headers["Content-Type"] = "application/json"
    return response
