"""osquery's spec examples (examples([...]) in osquery's specs/*.table) for
the file and config tables, run on this machine: each must run, and
return rows of the table's shape."""
from __future__ import annotations

import pytest

# osquery: specs/ssh_configs.table, specs/user_ssh_keys.table,
# specs/npm_packages.table, specs/vscode_extensions.table,
# specs/jetbrains_plugins.table, specs/chrome_extension_content_scripts.table
EXAMPLES = [
    ("ssh_configs", "select * from users join ssh_configs using (uid)"),
    ("user_ssh_keys", "select * from users join user_ssh_keys using (uid) where encrypted = 0"),
    ("npm_packages", "select * from npm_packages"),
    ("npm_packages", "select * from npm_packages where directory = '/home/user/my_project'"),
    ("npm_packages", "select * from npm_packages where directory = '/home/user/my_project' "
                     "and max_depth = 0"),
    ("npm_packages", "select name, version, depth from npm_packages where depth > 0"),
    ("vscode_extensions", "select * from vscode_extensions"),
    ("jetbrains_plugins", "select * from users cross join jetbrains_plugins using (uid)"),
    ("chrome_extension_content_scripts",
     "SELECT chrome_extension_content_scripts.* FROM users JOIN chrome_extension_content_scripts "
     "USING (uid) GROUP BY identifier, match"),
]


@pytest.mark.parametrize("table,sql", EXAMPLES)
def test_spec_example_runs(conn, table, sql):
    # Users' files may hold any bytes: keep them rather than fail decoding.
    conn.text_factory = lambda b: b.decode("utf-8", "surrogateescape")
    cur = conn.execute(sql)
    names = [d[0] for d in cur.description]
    visible = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
    assert set(visible) & set(names)
    for row in cur.fetchall():
        assert len(row) == len(names)
