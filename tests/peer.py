"""A SyncClient in its own process, driven over stdin/stdout by tests.

Commands (one per line): ``status`` → ``<state> <last_seq> <hash> <unacked> <nodes> <repairs>``;
``add N`` → submit N AddNode ops; ``quit``. The process keeps applying network events
between commands. Used to freeze a real client with SIGSTOP.
"""

from __future__ import annotations

import select
import sys

from twin_app.core import AddNode, Node, new_id
from twin_app.net import SyncClient


def main() -> None:
    endpoint, room, token = sys.argv[1:4]
    client = SyncClient(endpoint, room, token, "peer")
    client.start()
    while True:
        client.wait_for(lambda: False, timeout=0.05)
        ready, _, _ = select.select([sys.stdin], [], [], 0)
        if not ready:
            continue
        cmd = sys.stdin.readline().split()
        if not cmd or cmd[0] == "quit":
            break
        if cmd[0] == "status":
            s = client.store
            sys.stdout.write(f"{client.state} {s.last_seq} {s.doc.hash()} {client.unacked_count} {len(s.doc)} {sum(client.counters.values())}\n")
            sys.stdout.flush()
        elif cmd[0] == "add":
            for i in range(int(cmd[1])):
                client.submit(AddNode(Node(new_id(), "root", "V", kind="part", name=f"p{i}")), "add")
    client.close()


if __name__ == "__main__":
    main()
