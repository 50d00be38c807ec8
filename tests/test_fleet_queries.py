"""Fleet's Linux detail queries all run on osqlite, through the daemon's
distributed-query path (the way Fleet sends them).

The queries below are Fleet's own, as its server sends them to Linux hosts
(fleetdm/fleet, MIT license: server/service/osquery_utils/queries.go,
hostDetailQueries, extraDetailQueries, the software, users and
scheduled-query-stats queries, and the Linux software override queries),
with their discovery queries.  A query whose discovery finds nothing (a
fleetd extension table such as orbit_info, kubequery's kubernetes_info) is
not sent on by osquery either; every other one must succeed.
"""
from __future__ import annotations

import pwd
import shutil
import subprocess

import pytest

from osqlite.daemon import Daemon
from osqlite.distributed import DistributedRunner
from osqlite.flags import Flags


def discovery_table(name: str) -> str:
    return f"SELECT 1 FROM osquery_registry WHERE active = true AND registry = 'table' AND name = '{name}'"


USERS = """WITH cached_groups AS (select * from groups)
 SELECT uid, uuid, username, type, groupname, shell
 FROM users LEFT JOIN cached_groups USING (gid)
 WHERE type <> 'special' AND shell NOT LIKE '%/false' AND shell NOT LIKE '%/nologin' AND shell NOT LIKE '%/shutdown' AND shell NOT LIKE '%/halt' AND username NOT LIKE '%$' AND username NOT LIKE '\\_%' ESCAPE '\\' AND NOT (username = 'sync' AND shell ='/bin/sync' AND directory <> '')"""

NETWORK_INTERFACE = """SELECT
    ia.address,
    id.mac
FROM
    interface_addresses ia
    JOIN interface_details id ON id.interface = ia.interface
    JOIN routes r ON r.interface = ia.interface
WHERE
    (r.destination = '0.0.0.0' OR r.destination = '::') AND r.netmask = 0
    AND r.type = 'gateway'
    AND (
        inet_aton(ia.address) IS NOT NULL AND (
            split(ia.address, '.', 0) = '10'
            OR (split(ia.address, '.', 0) = '172' AND (CAST(split(ia.address, '.', 1) AS INTEGER) & 0xf0) = 16)
            OR (split(ia.address, '.', 0) = '192' AND split(ia.address, '.', 1) = '168')
        )
        OR (inet_aton(ia.address) IS NULL AND regex_match(lower(ia.address), '^f[cd][0-9a-f][0-9a-f]:[0-9a-f:]+', 0) IS NOT NULL)
    )
ORDER BY
    r.metric ASC,
    inet_aton(ia.address) IS NOT NULL DESC
LIMIT 1;"""

DISK_SPACE = """
        SELECT (blocks_available * 100 / blocks) AS percent_disk_space_available,
               round((blocks_available * blocks_size * 10e-10),2) AS gigs_disk_space_available,
               round((blocks           * blocks_size * 10e-10),2) AS gigs_total_disk_space,
                     (SELECT round(SUM(blocks * blocks_size) * 10e-10, 2) FROM mounts WHERE
blocks > 0
AND blocks_size > 0
AND path NOT LIKE '/media%' AND path NOT LIKE '/mnt%'
AND path NOT LIKE '/dev%'
AND path NOT LIKE '/proc%'
AND path NOT LIKE '/sys%'
AND path NOT LIKE '/run%'
AND path NOT LIKE '/var/run%'
AND path NOT LIKE '/boot%'
AND path NOT LIKE '/snap%' AND path NOT LIKE '/var/snap%'
AND path NOT LIKE '/var/lib/docker%'
AND path NOT LIKE '/var/lib/containers%'
AND type IN (
'ext4',
'ext3',
'ext2',
'xfs',
'btrfs',
'ntfs',
'vfat',
'fuseblk', --seen on NTFS and exFAT volumes mounted via FUSE
'zfs' --also valid storage
)
AND (
device LIKE '/dev/sd%'
OR device LIKE '/dev/hd%'
OR device LIKE '/dev/vd%'
OR device LIKE '/dev/nvme%'
OR device LIKE '/dev/mapper%'
OR device LIKE '/dev/md%'
OR device LIKE '/dev/dm-%'
)) AS gigs_all_disk_space
        FROM mounts WHERE path = '/' LIMIT 1;"""

SOFTWARE_LINUX = f"""WITH cached_users AS ({USERS})
SELECT
  name AS name,
  version AS version,
  '' AS extension_id,
  '' AS extension_for,
  'deb_packages' AS source,
  '' AS release,
  '' AS vendor,
  '' AS arch,
  '' AS installed_path
FROM deb_packages
WHERE status LIKE '% ok installed'
UNION
SELECT
  package AS name,
  version AS version,
  '' AS extension_id,
  '' AS extension_for,
  'portage_packages' AS source,
  '' AS release,
  '' AS vendor,
  '' AS arch,
  '' AS installed_path
FROM portage_packages
UNION
SELECT
  name AS name,
  version AS version,
  '' AS extension_id,
  '' AS extension_for,
  'rpm_packages' AS source,
  release AS release,
  vendor AS vendor,
  arch AS arch,
  '' AS installed_path
FROM rpm_packages
UNION
SELECT
  name AS name,
  version AS version,
  '' AS extension_id,
  '' AS extension_for,
  'npm_packages' AS source,
  '' AS release,
  '' AS vendor,
  '' AS arch,
  path AS installed_path
FROM npm_packages
UNION
SELECT
  name AS name,
  version AS version,
  identifier AS extension_id,
  browser_type AS extension_for,
  'chrome_extensions' AS source,
  '' AS release,
  '' AS vendor,
  '' AS arch,
  path AS installed_path
FROM cached_users CROSS JOIN chrome_extensions USING (uid)
UNION
SELECT
  name AS name,
  version AS version,
  identifier AS extension_id,
  'firefox' AS extension_for,
  'firefox_addons' AS source,
  '' AS release,
  '' AS vendor,
  '' AS arch,
  path AS installed_path
FROM cached_users CROSS JOIN firefox_addons USING (uid);
"""

PYTHON_PACKAGES = """
        SELECT
          name AS name,
          version AS version,
          '' AS extension_id,
          '' AS extension_for,
          'python_packages' AS source,
          '' AS vendor,
          path AS installed_path
        """
PYTHON_OLD = """SELECT 1 FROM (
    SELECT
    CAST(SUBSTR(version, 1, INSTR(version, '.') - 1) AS INTEGER) major,
    CAST(SUBSTR(version, INSTR(version, '.') + 1, INSTR(SUBSTR(version, INSTR(version, '.') + 1), '.') - 1) AS INTEGER) minor from osquery_info
) AS version_parts WHERE major < 5 OR (major = 5 AND minor < 16)"""
PYTHON_NEW = """SELECT 1 FROM (
    SELECT
    CAST(substr(version, 1, instr(version, '.') - 1) AS INTEGER) major,
    CAST(substr(version, instr(version, '.') + 1, instr(substr(version, instr(version, '.') + 1), '.') - 1) AS INTEGER) minor from osquery_info
) AS version_parts WHERE major > 5 OR (major = 5 AND minor >= 16)"""

LUKS = """
        WITH RECURSIVE
        devices AS (
            SELECT
                MAX(CASE WHEN key = 'path' THEN value ELSE NULL END) AS path,
                MAX(CASE WHEN key = 'kname' THEN value ELSE NULL END) AS kname,
                MAX(CASE WHEN key = 'pkname' THEN value ELSE NULL END) AS pkname,
                MAX(CASE WHEN key = 'fstype' THEN value ELSE NULL END) AS fstype,
                MAX(CASE WHEN key = 'mountpoint' THEN value ELSE NULL END) as mountpoint
            FROM lsblk
            GROUP BY parent
        HAVING path <> '' AND fstype <> ''
        ),
        root_mount AS (
            SELECT path, kname,
                CASE WHEN fstype = 'crypto_LUKS' THEN NULL ELSE pkname END as pkname,
                fstype
            FROM devices
            WHERE mountpoint = '/'
        ),
        luks_h(path, kname, pkname, fstype) AS (
            SELECT rtm.path, rtm.kname, rtm.pkname, rtm.fstype FROM root_mount rtm
            UNION
           SELECT dv.path, dv.kname, dv.pkname, dv.fstype
           FROM devices dv
           JOIN luks_h ON dv.kname=luks_h.pkname
        )
        SELECT salt, key_slot
        FROM cryptsetup_luks_salt
        WHERE device = (SELECT path FROM luks_h WHERE fstype = 'crypto_LUKS' LIMIT 1)"""

#: name -> (query, discovery or None), as Fleet names them in distributed reads
#: ("fleet_detail_query_<name>").
QUERIES: dict[str, tuple[str, str | None]] = {
    "network_interface_unix": (NETWORK_INTERFACE, None),
    "os_version": ("SELECT * FROM os_version LIMIT 1", None),
    "osquery_flags": ('select name, value from osquery_flags where name in ("distributed_interval", '
                      '"config_tls_refresh", "config_refresh", "logger_tls_period")', None),
    "osquery_info": ("select * from osquery_info limit 1", None),
    "system_info": ("select * from system_info limit 1", None),
    "uptime": ("select * from uptime limit 1", None),
    "disk_space_unix": (DISK_SPACE, None),
    "kubequery_info": ("SELECT * from kubernetes_info", discovery_table("kubernetes_info")),
    "google_chrome_profiles": ("SELECT email FROM google_chrome_profiles WHERE NOT ephemeral AND email <> ''",
                               discovery_table("google_chrome_profiles")),
    "os_unix_like": ("""
    SELECT
        os.name,
        os.major,
        os.minor,
        os.patch,
        os.extra,
        os.build,
        os.arch,
        os.platform,
        os.version AS version,
        k.version AS kernel_version
    FROM
        os_version os,
        kernel_info k""", None),
    "orbit_info": ("SELECT * FROM orbit_info", discovery_table("orbit_info")),
    "disk_encryption_linux": ("SELECT de.encrypted, m.path FROM disk_encryption de JOIN mounts m "
                              "ON m.device_alias = de.name;", None),
    "software_linux": (SOFTWARE_LINUX, None),
    "software_python_packages": (PYTHON_PACKAGES + "FROM python_packages", PYTHON_OLD),
    "software_python_packages_with_users_dir": (
        f"WITH cached_users AS ({USERS})" + PYTHON_PACKAGES
        + "FROM cached_users CROSS JOIN python_packages USING (uid)", PYTHON_NEW),
    "software_vscode_extensions": (f"""WITH cached_users AS ({USERS})
SELECT
  name,
  version,
  '' AS bundle_identifier,
  vscode_extensions.uuid AS extension_id,
  vscode_edition AS extension_for,
  'vscode_extensions' AS source,
  publisher AS vendor,
  '' AS last_opened_at,
  path AS installed_path
FROM cached_users CROSS JOIN vscode_extensions USING (uid)""", discovery_table("vscode_extensions")),
    "software_jetbrains_plugins": (f"""WITH cached_users AS ({USERS})
SELECT
  name,
  version,
  '' AS bundle_identifier,
  '' AS extension_id,
  product_type AS extension_for,
  'jetbrains_plugins' AS source,
  vendor,
  '' AS last_opened_at,
  path AS installed_path
FROM cached_users CROSS JOIN jetbrains_plugins USING (uid)""", discovery_table("jetbrains_plugins")),
    "software_linux_fleetd_pacman": ("""
SELECT name AS name, version AS version, '' AS extension_id, '' AS extension_for,
  'pacman_packages' AS source, '' AS release, '' AS vendor, arch AS arch, '' AS installed_path
FROM fleetd_pacman_packages""", discovery_table("fleetd_pacman_packages")),
    "software_go_binaries": ("""
SELECT name AS name, version AS version, '' AS extension_id, '' AS extension_for,
  'go_binaries' AS source, '' AS release, '' AS vendor, '' AS arch, installed_path AS installed_path
FROM go_binaries""", discovery_table("go_binaries")),
    "software_deb_last_opened_at": ("""
        SELECT package, MAX(atime) AS last_opened_at
        FROM deb_package_files
        CROSS JOIN file USING (path)
        WHERE type = 'regular' AND regex_match(file.mode, '[1357]', 0)
        GROUP BY package
    """, discovery_table("deb_package_files")),
    "software_rpm_last_opened_at": ("""
        SELECT package, MAX(atime) AS last_opened_at
        FROM (SELECT package, path FROM rpm_package_files WHERE regex_match(mode, '[1357]', 0))
        CROSS JOIN file USING (path)
        WHERE type = 'regular'
        GROUP BY package
    """, discovery_table("rpm_package_files")),
    "users": (USERS, None),
    "scheduled_query_stats": ("""
            SELECT *,
                (SELECT value from osquery_flags where name = 'pack_delimiter') AS delimiter
            FROM osquery_schedule""", None),
    "luks_verify": (LUKS, f"SELECT 1 WHERE EXISTS ({discovery_table('lsblk')}) AND "
                          f"EXISTS ({discovery_table('cryptsetup_luks_salt')});"),
}

#: Tables only fleetd or kubequery provide: their discovery queries find nothing.
EXTENSION_ONLY = {"kubequery_info", "google_chrome_profiles", "orbit_info", "software_linux_fleetd_pacman",
                  "software_go_binaries", "luks_verify"}


@pytest.fixture(scope="module")
def answers(tmp_path_factory):
    """Fleet's distributed read with every query, run as the daemon runs it."""
    tmp = tmp_path_factory.mktemp("fleet")
    flags = Flags()
    flags.parse_argv([f"--database_path={tmp / 'osquery.db'}", "--ephemeral", "--disable_distributed=false"])
    d = Daemon(flags)
    d.open_state()
    runner = DistributedRunner()
    runner.daemon = d
    work = {"queries": {f"fleet_detail_query_{k}": q for k, (q, _) in QUERIES.items()},
            "discovery": {f"fleet_detail_query_{k}": disc for k, (_, disc) in QUERIES.items() if disc}}
    import json
    queries = runner.accept(json.dumps(work))
    out = {name[len("fleet_detail_query_"):]: runner.run_query(name, sql) for name, sql in queries.items()}
    yield out
    d.state.close()


def test_every_linux_detail_query_runs(answers):
    sent = set(QUERIES) - EXTENSION_ONLY - {"software_python_packages"}
    assert set(answers) == sent       # discovery kept exactly the ones a Linux osquery 5.23 runs
    failed = {k: v["message"] for k, v in answers.items() if v["status"] != 0}
    assert failed == {}


def test_host_vitals_have_what_fleet_reads(answers):
    [osv] = answers["os_version"]["rows"]
    assert osv["platform"] and osv["name"] and osv["version"]
    [info] = answers["osquery_info"]["rows"]
    assert info["version"] == "5.23.0"
    [si] = answers["system_info"]["rows"]
    assert si["uuid"] and si["hostname"] and int(si["physical_memory"]) > 0
    assert int(si["cpu_logical_cores"]) >= 1
    [up] = answers["uptime"]["rows"]
    assert int(up["total_seconds"]) > 0
    [disk] = answers["disk_space_unix"]["rows"]
    assert 0 <= float(disk["percent_disk_space_available"]) <= 100
    flags = {r["name"]: r["value"] for r in answers["osquery_flags"]["rows"]}
    assert flags["distributed_interval"] == "60" and flags["logger_tls_period"] == "4"
    stats = answers["scheduled_query_stats"]
    assert all(r["delimiter"] == "_" for r in stats["rows"])
    [osl] = answers["os_unix_like"]["rows"]
    assert osl["kernel_version"] and osl["arch"]


def test_users_match_the_password_database(answers):
    got = {int(r["uid"]) for r in answers["users"]["rows"]}
    login = {p.pw_uid for p in pwd.getpwall()
             if not p.pw_shell.endswith(("/false", "/nologin", "/shutdown", "/halt"))
             and not p.pw_name.endswith("$") and not p.pw_name.startswith("_")
             and not (p.pw_name == "sync" and p.pw_shell == "/bin/sync" and p.pw_dir)}
    assert got == login


def test_software_inventory_has_the_debian_packages(answers):
    if shutil.which("dpkg-query") is None:
        pytest.skip("dpkg-query is not installed: no Debian package database to compare with")
    out = subprocess.run(["dpkg-query", "-W", "-f", "${Package}\t${Status}\n"], capture_output=True,
                         text=True).stdout
    installed = {line.split("\t")[0] for line in out.splitlines() if line.endswith(" ok installed")}
    debs = {r["name"] for r in answers["software_linux"]["rows"] if r["source"] == "deb_packages"}
    assert debs == installed
