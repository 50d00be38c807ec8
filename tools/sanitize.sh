#!/usr/bin/env bash
# Run every table under AddressSanitizer and UndefinedBehaviorSanitizer
# against the live system and any committed fixture tree under tests/fixtures.
# The hostile trees that tests build at run time (truncated /proc files, binary
# passwd lines, corrupt SMBIOS, ...) go through the same driver from pytest
# (tests/asan_helper.py), so `python3 -m pytest` covers those, and so does
# the seeded fuzz run over 200 generated hostile trees
# (tests/test_procfs_fuzz_e2e.py; by hand: python3 tests/procfs_fuzz.py).
# Any sanitizer report makes the driver exit non-zero, and this script with it.
set -euo pipefail
cd "$(dirname "$0")/.."
make -s asan
driver=build/osqlite-asan
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
# The cloud metadata tables must not reach 169.254.169.254 from CI.
export OSQLITE_METADATA_ENDPOINT=${OSQLITE_METADATA_ENDPOINT:-127.0.0.1:9}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

# Statements beyond SELECT * that reach the constraint paths.
extra=(
  "SELECT * FROM file WHERE path = '/etc/hosts'"
  "SELECT * FROM file WHERE directory = '/etc'"
  "SELECT * FROM file WHERE path LIKE '/etc/%'"
  "SELECT * FROM hash WHERE path IN ('/etc/hosts', '/etc/passwd', '/nonexistent')"
  "SELECT * FROM processes WHERE pid IN (1, $$, 999999999)"
  "SELECT * FROM users JOIN shell_history USING (uid)"
  "SELECT * FROM users JOIN authorized_keys USING (uid)"
  "SELECT * FROM kernel_info JOIN hash USING (path)"
  "SELECT * FROM extended_attributes WHERE path LIKE '/usr/bin/%'"
  "SELECT * FROM users JOIN user_ssh_keys USING (uid)"
  "SELECT * FROM users JOIN vscode_extensions USING (uid)"
  "SELECT * FROM processes JOIN process_open_sockets USING (pid)"
  "SELECT * FROM process_envs e JOIN processes p USING (pid) WHERE p.name = 'python3'"
  # carves and carve() against the driver's stand-in for the daemon's osqlite_carve().
  "SELECT * FROM carves WHERE path = '/etc/hosts' AND carve = 1"
  "SELECT * FROM carves WHERE path LIKE '/etc/%' AND carve = 1"
  "SELECT carve(path) FROM file WHERE directory = '/etc'"
  "SELECT carve(NULL)"
)

# auto_table_construction over a database file made here, the foreign
# tables, views, and the meta tables that list them all.
atcdir=$(mktemp -d)
trap 'rm -rf "$atcdir"' EXIT
dynamic=(
  "ATTACH DATABASE '$atcdir/one.db' AS one"
  "CREATE TABLE one.t(a, b, path)"
  "INSERT INTO one.t VALUES (1, 'x', NULL), (2.5, x'00ff41', 'own'), (NULL, 'y', 3)"
  "DETACH DATABASE one"
  "CREATE VIRTUAL TABLE temp.atc USING osqlite_atc('SELECT a, b FROM t', '$atcdir/%.db', 'a', 'b', 'path')"
  "CREATE VIRTUAL TABLE temp.atc_own_path USING osqlite_atc('SELECT * FROM t', '$atcdir/%%', 'a', 'path')"
  "CREATE VIRTUAL TABLE temp.atc_none USING osqlite_atc('SELECT * FROM nope', '$atcdir/%', 'a')"
  "SELECT * FROM atc" "SELECT * FROM atc_own_path" "SELECT * FROM atc_none"
  "CREATE TEMP VIEW v AS SELECT a FROM atc"
  "SELECT osqlite_enable_foreign()"
  "SELECT * FROM osqlite_tables" "SELECT * FROM osqlite_columns" "SELECT * FROM osquery_registry"
  "SELECT * FROM apps" "SELECT * FROM ntfs_acl_permissions WHERE path = 'x'"
  # Tables declared by CREATE VIRTUAL TABLE, with and without arguments,
  # and arguments the engine refuses (argument parsing, engine.c).
  "CREATE VIRTUAL TABLE temp.p USING processes"
  "CREATE VIRTUAL TABLE temp.u USING users(\`uid\` BIGINT, \"username\" text, [uuid] TEXT COLLATE NOCASE, 'type' TEXT HIDDEN)"
  "CREATE VIRTUAL TABLE temp.bad1 USING users(uid TEXT)"
  "CREATE VIRTUAL TABLE temp.bad2 USING users(nosuch)"
  "CREATE VIRTUAL TABLE temp.bad3 USING users(\"\", x)"
  "SELECT * FROM p" "SELECT * FROM u WHERE uid = 0" "DROP TABLE temp.u"
  # Extension tables, with the driver's stand-in for the host's function.
  "CREATE VIRTUAL TABLE temp.ext_rows USING osqlite_extension('a', 'TEXT', '0', 'n', 'BIGINT', '3', 'd', 'DOUBLE', '4128', 'n2', 'ALIAS', '1')"
  "CREATE VIRTUAL TABLE temp.ext_echo USING osqlite_extension('a', 'TEXT', '1', 'b\"''q', 'weird type', '16')"
  "CREATE VIRTUAL TABLE temp.ext_bad USING osqlite_extension('a', 'TEXT', '1')"
  "CREATE VIRTUAL TABLE temp.ext_err USING osqlite_extension('a', 'TEXT', '1')"
  "CREATE VIRTUAL TABLE temp.ext_badargs USING osqlite_extension('a', 'TEXT')"
  "CREATE VIRTUAL TABLE temp.ext_badalias USING osqlite_extension('a', 'ALIAS', '0')"
  "SELECT * FROM ext_rows" "SELECT a, n2 FROM ext_rows WHERE n > 1 AND a LIKE 'x%' AND a != 'y' AND n IN (1, 12)"
  "SELECT * FROM ext_echo WHERE a = 'x' AND a GLOB '*' AND a IS NOT 'z'"
  "SELECT * FROM ext_bad" "SELECT * FROM ext_err" "SELECT count(*) FROM ext_rows WHERE n = 12" "SELECT * FROM ext_rows WHERE n >= 0"
  "SELECT * FROM osqlite_tables WHERE origin = 'extension'" "SELECT * FROM osqlite_columns WHERE table_name LIKE 'ext%'"
)

echo "== live system"
"$driver" -q -a "${extra[@]}" "${dynamic[@]}"
# Each directory that holds a proc/, sys/, etc/, var/ or usr/ tree is a root.
find tests/fixtures -type d \( -name proc -o -name sys -o -name etc -o -name var -o -name usr -o -name run \) \
    -prune -printf '%h\n' | sort -u | while read -r tree; do
  echo "== OSQLITE_ROOT=$tree"
  OSQLITE_ROOT="$tree" "$driver" -q -a "${extra[@]}"
done
echo "sanitizers: no reports"
