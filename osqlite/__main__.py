"""``python -m osqlite``: the shell, as ``osqueryi`` (osqlite.shell)."""
from __future__ import annotations

import sys

from .shell import main

sys.exit(main())
