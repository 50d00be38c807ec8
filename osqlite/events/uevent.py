"""hardware_events from kernel uevents (NETLINK_KOBJECT_UEVENT).

osquery reads udev's monitor (osquery/events/linux/udev.cpp,
osquery/tables/events/linux/hardware_events.cpp).  We read the kernel's own
uevents (multicast group 1), which need no udevd, and take udev's
properties from its database (/run/udev/data) when udevd runs, else from
sysfs (idVendor, idProduct, serial, bcdDevice of the nearest USB parent).

Rows follow osquery: action is the uevent action (add, remove, change,
bind, ...), path the device node, type the DEVTYPE, driver the DRIVER; an
event without a type, or with neither node nor driver, is skipped.
Deliberate extension: network interfaces (subsystem "net"), which have no
device node and usually no DEVTYPE, are reported with type = DEVTYPE or
"net" and path = their sysfs path (/sys/devices/.../net/<name>), so
interfaces appearing and disappearing are hardware events too.
"""
from __future__ import annotations

import logging
import os

from .netlink import NetlinkPublisher, open_netlink

log = logging.getLogger("osqlite.events")

NETLINK_KOBJECT_UEVENT = 15


def parse_uevent(data: bytes) -> dict | None:
    """Kernel uevent datagram: 'action@devpath\\0KEY=VALUE\\0...'."""
    if data.startswith(b"libudev"):
        return None
    parts = data.split(b"\0")
    if not parts or b"@" not in parts[0]:
        return None
    env = {}
    for p in parts[1:]:
        k, sep, v = p.partition(b"=")
        if sep:
            env[k.decode("utf-8", "replace")] = v.decode("utf-8", "replace")
    if "ACTION" not in env or "DEVPATH" not in env:
        return None
    return env


def _read(path: str) -> str:
    try:
        with open(path, "rb") as f:
            return f.read(4096).decode("utf-8", "replace").strip()
    except OSError:
        return ""


def udev_properties(env: dict) -> dict:
    """udev's ID_* properties for the device, from /run/udev/data."""
    props: dict = {}
    major, minor = env.get("MAJOR"), env.get("MINOR")
    names = []
    if major and minor:
        kind = "b" if env.get("SUBSYSTEM") == "block" else "c"
        names.append(f"{kind}{major}:{minor}")
    if env.get("IFINDEX"):
        names.append("n" + env["IFINDEX"])
    for n in names:
        text = _read(f"/run/udev/data/{n}")
        for line in text.splitlines():
            if line.startswith("E:"):
                k, _, v = line[2:].partition("=")
                props[k] = v
        if props:
            break
    return props


def sysfs_ids(devpath: str) -> dict:
    """vendor/model ids, serial and revision from the nearest sysfs parent
    that has them (USB devices)."""
    path = "/sys" + devpath
    out: dict = {}
    for _ in range(8):
        if os.path.exists(os.path.join(path, "idVendor")):
            out["vendor_id"] = _read(os.path.join(path, "idVendor"))
            out["model_id"] = _read(os.path.join(path, "idProduct"))
            out["serial"] = _read(os.path.join(path, "serial"))
            out["revision"] = _read(os.path.join(path, "bcdDevice"))
            out["vendor"] = _read(os.path.join(path, "manufacturer"))
            out["model"] = _read(os.path.join(path, "product"))
            break
        parent = os.path.dirname(path)
        if parent in ("/sys", "/sys/devices", path):
            break
        path = parent
    return out


def hardware_row(env: dict) -> dict | None:
    subsystem = env.get("SUBSYSTEM", "")
    devtype = env.get("DEVTYPE", "")
    devname = env.get("DEVNAME", "")
    node = ("/dev/" + devname if devname and not devname.startswith("/") else devname)
    driver = env.get("DRIVER", "")
    if subsystem == "net":
        devtype = devtype or "net"
        node = node or "/sys" + env["DEVPATH"]
    if not devtype:
        return None
    if not node and not driver:
        return None
    props = udev_properties(env) if env.get("ACTION") != "remove" else {}
    row = {"action": env["ACTION"], "path": node, "type": devtype, "driver": driver,
           "model": props.get("ID_MODEL_FROM_DATABASE", ""),
           "model_id": props.get("ID_MODEL_ID", ""),
           "vendor": props.get("ID_VENDOR_FROM_DATABASE", ""),
           "vendor_id": props.get("ID_VENDOR_ID", ""),
           "serial": props.get("ID_SERIAL_SHORT", ""),
           "revision": props.get("ID_REVISION", "")}
    if not props and env.get("ACTION") != "remove":
        for k, v in sysfs_ids(env["DEVPATH"]).items():
            if v and not row.get(k):
                row[k] = v
    if not row["path"] and not row["model"]:
        return None
    return row


class UdevPublisher(NetlinkPublisher):
    """The 'udev' publisher and its 'hardware_events' subscriber."""

    name = "udev"
    table = "hardware_events"
    thread_name = "osqlite-udev"
    lost_message = "Hardware events were lost: the uevent buffer overflowed (%d times)"

    def setup(self) -> None:
        self.sock = open_netlink(NETLINK_KOBJECT_UEVENT, 1, 8 << 20)

    def handle(self, data: bytes) -> None:
        env = parse_uevent(data)
        if env is None:
            return
        try:
            row = hardware_row(env)
        except Exception as exc:
            log.warning("uevent handling failed: %s", exc)
            return
        if row is not None:
            self.events += 1
            self.emit(self.table, row)
