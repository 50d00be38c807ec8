"""osquery's spec examples (examples([...]) in osquery's specs/*.table) for
the /proc, /sys and account tables, run on this machine: each must run and
return rows of the table's shape.  The fixture-backed checks of what these
examples return where this host has no data (SELinux, AppArmor) are in
test_security_tables.py."""
from __future__ import annotations

import pytest

# osquery: specs/linux/process_namespaces.table, process_open_pipes.table,
# kernel_keys.table, selinux_settings.table, apparmor_profiles.table,
# specs/posix/ulimit_info.table, users.table, specs/utility/file.table,
# specs/hash.table
EXAMPLES = [
    ("process_namespaces", "select * from process_namespaces where pid = 1"),
    ("process_open_pipes", "select * from process_open_pipes"),
    ("kernel_keys", "select * from kernel_keys"),
    ("ulimit_info", "select * from ulimit_info"),
    ("selinux_settings", "SELECT * FROM selinux_settings WHERE key = 'enforce'"),
    ("apparmor_profiles", "SELECT * FROM apparmor_profiles WHERE mode = 'complain'"),
    ("users", "select * from users where uid = 1000"),
    ("users", "select * from users where username = 'root'"),
    ("users", "select count(*) from users u, user_groups ug where u.uid = ug.uid"),
    ("file", "select * from file where path = '/etc/passwd'"),
    ("file", "select * from file where directory = '/etc/'"),
    ("file", "select * from file where path LIKE '/etc/%'"),
    ("hash", "select * from hash where path = '/etc/passwd'"),
    ("hash", "select * from hash where directory = '/etc/'"),
]

# Rows this host certainly has for an example.
AT_LEAST_ONE = {"select * from process_namespaces where pid = 1", "select * from ulimit_info",
                "select * from users where username = 'root'",
                "select * from file where path = '/etc/passwd'",
                "select * from hash where path = '/etc/passwd'",
                "select * from file where directory = '/etc/'"}


@pytest.mark.parametrize("table,sql", EXAMPLES)
def test_spec_example_runs(conn, table, sql):
    conn.text_factory = lambda b: b.decode("utf-8", "surrogateescape")
    cur = conn.execute(sql)
    names = [d[0] for d in cur.description]
    got = cur.fetchall()
    if not sql.startswith("select count"):
        visible = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
        assert names == visible
    for row in got:
        assert len(row) == len(names)
    if sql in AT_LEAST_ONE:
        assert got
    if sql.startswith("select count"):
        assert got[0][0] >= 1
