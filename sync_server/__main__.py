"""``python -m sync_server`` is ``twin-sync``."""

import sys

from sync_server.cli import main

sys.exit(main())
