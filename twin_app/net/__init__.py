"""The headless network client: a background agent thread that owns the ZeroMQ socket and
a facade (``SyncClient``) whose store and callbacks live on the application's thread."""

from twin_app.net.client import Assets, SyncClient
from twin_app.session.facade import Peer

__all__ = ["Assets", "Peer", "SyncClient"]
