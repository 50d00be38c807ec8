"""docs/tables.md is generated from the extension's own table listing."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_tables_doc_is_current():
    result = subprocess.run([sys.executable, str(REPO / "tools" / "gen_docs.py"), "--check"],
                            capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr + " (run: python3 tools/gen_docs.py)"
