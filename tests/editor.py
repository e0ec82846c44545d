"""A designer at another site in its own process: edits existing parts at a steady rate.

    python -m tests.editor ENDPOINT ROOM TOKEN COUNT RATE NODE[,NODE…]

Cycles through moves, recolours, renames and property changes of the given nodes, paced
at RATE edits/s, then waits until the server acknowledged every one and prints
``acked COUNT <hash>`` (or ``failed …``) on stdout.
"""

from __future__ import annotations

import sys
import time

from twin_app.core import SetField
from twin_app.net import SyncClient


def edit(i: int, node: str) -> SetField:
    """The i-th edit of the cycle on ``node``."""
    kind = i % 4
    if kind == 0:
        return SetField(node, "transform", (float(i % 50) * 0.1, 0.0, 0.0, 0, 0, 0, 1, 1, 1, 1))
    if kind == 1:
        return SetField(node, "color", ((i % 10) / 10.0, 0.5, 0.5))
    if kind == 2:
        return SetField(node, "name", f"Station {i}")
    return SetField(node, "prop:temperature", 20.0 + (i % 300) / 10.0)


def main() -> int:
    endpoint, room, token, count, rate, nodes = sys.argv[1:7]
    ids = nodes.split(",")
    n, period = int(count), 1.0 / float(rate)
    client = SyncClient(endpoint, room, token, "Remote site")
    client.start()
    if not client.wait_for(lambda: client.state == "live", 30):
        sys.stdout.write(f"failed to join: {client.state} {client.state_detail}\n")
        return 1
    t0 = time.monotonic()
    for i in range(n):
        client.submit(edit(i, ids[i % len(ids)]), "edit")
        # Pace by the clock, handling network events while waiting (acks, remote edits).
        client.wait_for(lambda: False, timeout=max(0.0, t0 + (i + 1) * period - time.monotonic()))
    ok = client.wait_for(lambda: client.unacked_count == 0, 120)
    sys.stdout.write(f"acked {n} {client.store.doc.hash()}\n" if ok else f"failed {client.unacked_count} unacked\n")
    sys.stdout.flush()
    client.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
