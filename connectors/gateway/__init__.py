"""The national dashboard: a small aiohttp server over an in-memory snapshot of the national tables.

Run it with `cshub run --only gateway` (or as part of `cshub run`). See `server.py` for the routes.
"""

from connectors.gateway.server import Gateway, GatewayConfig, listen
from connectors.gateway.snapshot import Snapshot

__all__ = ["Gateway", "GatewayConfig", "Snapshot", "listen"]
