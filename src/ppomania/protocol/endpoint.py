"""Where gosumemory and tosu serve their documents: the port and the paths, shared by the state
client, the stand-in's server and the command line (kept free of heavy imports: the CLI imports it
at start)."""

#: The port gosumemory and tosu listen on (on ``127.0.0.1``).
DEFAULT_PORT = 24050

#: HTTP paths: the v1 document (gosumemory and tosu), tosu's v2 document and its precise channel.
HTTP_V1 = "/json"
HTTP_V2 = "/json/v2"
HTTP_PRECISE = "/json/v2/precise"
#: WebSocket paths of the same three documents.
WS_V1 = "/ws"
WS_V2 = "/websocket/v2"
WS_PRECISE = "/websocket/v2/precise"
