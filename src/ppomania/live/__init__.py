"""Real-game I/O: the tosu/gosumemory state client, the game clock, screen capture, key input and
the Songs folder. Imports only :mod:`ppomania.game`, :mod:`ppomania.protocol` and
:mod:`ppomania.realtime`; the RL side lives in :mod:`ppomania.env`."""
