"""Where gosumemory and tosu serve their documents: the port, shared by the state client, the
stand-in's server and the command line (kept free of heavy imports: the CLI imports it at start)."""

#: The port gosumemory and tosu listen on (on ``127.0.0.1``).
DEFAULT_PORT = 24050
