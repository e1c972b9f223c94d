"""The wire format of gosumemory and tosu: their JSON documents, built from a game snapshot and
parsed back. Pure data, no I/O: the live state client (``ppomania.live``) parses what the real
tools send, the stand-in game (``ppomania.standin``) serves the same documents.

Formats (``specs/game-state-api.md`` §2.4, §3.5–3.7, fixtures §10), named by
:data:`ppomania.protocol.snapshot.SOURCES`:

- ``gosumemory``: v1 document of ``GET /json`` and ``/ws`` (gosumemory 1.3.9).
- ``tosu-v1``: tosu's gosumemory-compatible superset on the same paths.
- ``tosu-v2``: ``GET /json/v2`` and ``/websocket/v2``.
- ``tosu-precise``: ``GET /json/v2/precise`` and ``/websocket/v2/precise`` (``currentTime`` only
  in the pre-4.23 variant).

Modules: :mod:`~ppomania.protocol.snapshot` (what the documents say, source names, state codes,
errors), :mod:`~ppomania.protocol.documents` (building and serialising, with
:mod:`~ppomania.protocol.build_v1`, :mod:`~ppomania.protocol.build_v2`,
:mod:`~ppomania.protocol.values` and :mod:`~ppomania.protocol.neutral`),
:mod:`~ppomania.protocol.parse` (parsing), :mod:`~ppomania.protocol.phases` (phases from a sequence
of documents) and :mod:`~ppomania.protocol.endpoint` (the port). This package imports nothing of
its modules, so that importing :mod:`~ppomania.protocol.endpoint` stays cheap.
"""
