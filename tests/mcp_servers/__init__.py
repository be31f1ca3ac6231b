"""MCP servers for the hub's tests, written with the SDK's high-level server (``toolbox``)."""
