"""The stand-in game: a real window that plays a map in real time with the core's rules
(:mod:`~ppomania.standin.game`) and serves the tosu/gosumemory protocol
(:mod:`~ppomania.standin.server`), so the live path runs end to end where osu! cannot."""
