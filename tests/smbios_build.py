"""Build raw SMBIOS tables in Python (struct), and walk them independently
the way osquery does, as the oracle for the C parser."""
from __future__ import annotations

import hashlib
import struct


def structure(stype: int, handle: int, formatted: bytes, strings=(), hlen=None) -> bytes:
    """One SMBIOS structure: header + formatted area + string set (str or
    raw bytes)."""
    length = 4 + len(formatted) if hlen is None else hlen
    out = struct.pack("<BBH", stype, length, handle) + formatted
    if strings:
        out += b"".join((s if isinstance(s, bytes) else s.encode()) + b"\0"
                       for s in strings) + b"\0"
    else:
        out += b"\0\0"
    return out


def system(vendor="Acme Corp", product="Roadrunner 9000", version="Rev B  ",
           serial="SN-12345", handle=0x0100) -> bytes:
    f = bytes([1, 2, 3, 4]) + bytes(range(16)) + bytes([6, 0, 0])
    return structure(1, handle, f, [vendor, product, version, serial])


def board(vendor="Board Co", product="BX-1", version="1.0", serial="BSN-9",
          handle=0x0200) -> bytes:
    f = bytes([1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0])
    return structure(2, handle, f, [vendor, product, version, serial])


def processor(socket="CPU 0", manufacturer="GenuineIntel", version="Xeon Fake",
              ptype=3, cores=8, threads=16, cur=2400, maxs=3600, status=0x41,
              chars=0x04, handle=0x0400) -> bytes:
    f = bytearray(0x30 - 4)

    def put(off, data):
        f[off - 4:off - 4 + len(data)] = data

    put(0x04, bytes([1]))
    put(0x05, bytes([ptype]))
    put(0x07, bytes([2]))
    put(0x10, bytes([3]))
    put(0x14, struct.pack("<H", maxs))
    put(0x16, struct.pack("<H", cur))
    put(0x18, bytes([status]))
    put(0x23, bytes([cores]))
    put(0x25, bytes([threads]))
    put(0x26, struct.pack("<H", chars))
    return structure(4, handle, bytes(f), [socket, manufacturer, version])


def _formatted(size: int, fields: dict[int, bytes]) -> bytes:
    """A formatted area of `size` bytes (header included), with the given
    bytes placed at their SMBIOS offsets."""
    f = bytearray(size - 4)
    for off, data in fields.items():
        f[off - 4:off - 4 + len(data)] = data
    return bytes(f)


def bios(vendor="Phoenix Technologies", version="6.00", date="11/12/2020",
         segment=0xE000, rom_blocks=7, major=4, minor=6, handle=0) -> bytes:
    """Type 0, BIOS Information (SMBIOS 2.4+ layout, 0x18 bytes)."""
    f = _formatted(0x18, {0x04: bytes([1, 2]), 0x06: struct.pack("<H", segment),
                          0x08: bytes([3]), 0x09: bytes([rom_blocks]),
                          0x14: bytes([major, minor])})
    return structure(0, handle, f, [vendor, version, date])


def oem_strings(values, count=None, handle=0x0B00) -> bytes:
    """Type 11: the count byte, then the strings."""
    n = len(values) if count is None else count
    return structure(11, handle, bytes([n]), list(values))


def memory_array(location=3, use=3, ecc=6, capacity_kb=64 * 1024 * 1024,
                 err_handle=0xFFFE, devices=4, ext_capacity=0, handle=0x1000) -> bytes:
    """Type 16, Physical Memory Array (0x17 bytes)."""
    f = _formatted(0x17, {0x04: bytes([location, use, ecc]),
                          0x07: struct.pack("<I", capacity_kb),
                          0x0B: struct.pack("<H", err_handle),
                          0x0D: struct.pack("<H", devices),
                          0x0F: struct.pack("<Q", ext_capacity)})
    return structure(16, handle, f)


def memory_device(array_handle=0x1000, total_width=72, data_width=64, size=16384,
                  form=9, dev_set=0, locator="DIMM_A1", bank="BANK 0", mtype=0x1A,
                  details=0x0080, speed=3200, manufacturer="Samsung", serial="1234ABCD ",
                  asset="Asset-1", part="M393A2K43DB3-CWE  ", ext_size=0, clock=2933,
                  vmin=1200, vmax=1350, vconf=1200, handle=0x1100, strings=None,
                  indices=(1, 2, 3, 4, 5, 6)) -> bytes:
    """Type 17, Memory Device (SMBIOS 3.x layout, 0x28 bytes + strings);
    indices are the string numbers of the locators, manufacturer, serial,
    asset tag and part number (0: none)."""
    f = _formatted(0x28, {
        0x04: struct.pack("<HH", array_handle, 0xFFFE),
        0x08: struct.pack("<HHH", total_width, data_width, size),
        0x0E: bytes([form, dev_set, indices[0], indices[1], mtype]),
        0x13: struct.pack("<HH", details, speed),
        0x17: bytes([indices[2], indices[3], indices[4], indices[5], 0]),
        0x1C: struct.pack("<IHHHH", ext_size, clock, vmin, vmax, vconf)})
    if strings is None:
        strings = [locator, bank, manufacturer, serial, asset, part]
    return structure(17, handle, f, strings)


def memory_error(etype=3, gran=2, op=2, syndrome=0, array_addr=0x80000000,
                 dev_addr=0x80000000, resolution=0x80000000, handle=0x1200) -> bytes:
    """Type 18, 32-bit Memory Error Information (0x17 bytes)."""
    f = _formatted(0x17, {0x04: bytes([etype, gran, op]),
                          0x07: struct.pack("<IIII", syndrome, array_addr, dev_addr,
                                            resolution)})
    return structure(18, handle, f)


def array_mapped(start=0, end=0x3FFFFFF, array_handle=0x1000, width=4,
                 ext_start=0, ext_end=0, handle=0x1300) -> bytes:
    """Type 19, Memory Array Mapped Address (0x1F bytes)."""
    f = _formatted(0x1F, {0x04: struct.pack("<IIHB", start, end, array_handle, width),
                          0x0F: struct.pack("<QQ", ext_start, ext_end)})
    return structure(19, handle, f)


def device_mapped(start=0, end=0xFFFFFF, device_handle=0x1100, array_mapped_handle=0x1300,
                  row=1, interleave=2, depth=3, ext_start=0, ext_end=0,
                  handle=0x1400) -> bytes:
    """Type 20, Memory Device Mapped Address (0x23 bytes)."""
    f = _formatted(0x23, {0x04: struct.pack("<IIHHBBB", start, end, device_handle,
                                            array_mapped_handle, row, interleave, depth),
                          0x13: struct.pack("<QQ", ext_start, ext_end)})
    return structure(20, handle, f)


def end_of_table(handle=0xFEFF) -> bytes:
    return structure(127, handle, b"")


def walk(blob: bytes):
    """osquery's SMBIOSParser::tables: yields (index, type, hlen, handle, start, size)."""
    end = len(blob)
    t = 0
    i = 0
    while t + 4 <= end:
        stype, hlen, handle = struct.unpack_from("<BBH", blob, t)
        if t + hlen > end:
            break
        if hlen == 0 and handle == 0:
            break
        nxt = t + hlen
        while nxt + 4 <= end:
            if blob[nxt] == 0 and blob[nxt + 1] == 0:
                nxt += 2
                break
            nxt += 1
        yield i, stype, hlen, handle, t, nxt - t
        i += 1
        t = nxt


def expected_rows(blob: bytes, names: dict[int, str]):
    out = []
    for i, stype, hlen, handle, start, size in walk(blob):
        out.append({
            "number": i, "type": stype, "description": names.get(stype, "Unknown"),
            "handle": handle, "header_size": hlen, "size": size,
            "md5": hashlib.md5(blob[start:start + size]).hexdigest(),
        })
    return out


def dmi_string(blob: bytes, start: int, hlen: int, size: int, idx: int) -> str:
    """osquery's dmiString guards."""
    text = blob[start + hlen:start + size]
    if idx == 0 or not text or text[-1] != 0:
        return ""
    off = 0
    for _ in range(idx - 1):
        e = text.find(b"\0", off)
        off = e + 1
        if off >= len(text):
            return ""
    s = text[off:text.index(b"\0", off)].decode("latin-1")
    return s.rstrip()


def write_tree(root, blob: bytes, entry: bytes | None = None):
    d = root / "sys/firmware/dmi/tables"
    d.mkdir(parents=True, exist_ok=True)
    (d / "DMI").write_bytes(blob)
    if entry is not None:
        (d / "smbios_entry_point").write_bytes(entry)
    return root


def entry_point_v3(table_len: int) -> bytes:
    ep = bytearray(0x18)
    ep[0:5] = b"_SM3_"
    ep[6] = 0x18
    ep[7] = 3
    struct.pack_into("<I", ep, 0x0C, table_len)
    return bytes(ep)


def entry_point_v2(table_len: int) -> bytes:
    ep = bytearray(0x1F)
    ep[0:4] = b"_SM_"
    ep[0x10:0x15] = b"_DMI_"
    struct.pack_into("<H", ep, 0x16, table_len)
    return bytes(ep)


# osquery's kSMBIOSTypeDescriptions (osquery/tables/system/smbios_utils.cpp).
TYPE_NAMES = {
    0: "BIOS Information",
    1: "System Information",
    2: "Base Board or Module Information",
    3: "System Enclosure or Chassis",
    4: "Processor Information",
    5: "Memory Controller Information",
    6: "Memory Module Information",
    7: "Cache Information",
    8: "Port Connector Information",
    9: "System Slots",
    10: "On Board Devices Information",
    11: "OEM Strings",
    12: "System Configuration Options",
    13: "BIOS Language Information",
    14: "Group Associations",
    15: "System Event Log",
    16: "Physical Memory Array",
    17: "Memory Device",
    18: "32-bit Memory Error Information",
    19: "Memory Array Mapped Address",
    20: "Memory Device Mapped Address",
    21: "Built-in Pointing Device",
    22: "Portable Battery",
    23: "System Reset",
    24: "Hardware Security",
    25: "System Power Controls",
    26: "Voltage Probe",
    27: "Cooling Device",
    28: "Temperature Probe",
    29: "Electrical Current Probe",
    30: "Out-of-Band Remote Access",
    31: "Boot Integrity Services",
    32: "System Boot Information",
    33: "64-bit Memory Error Information",
    34: "Management Device",
    35: "Management Device Component",
    36: "Management Device Threshold Data",
    37: "Memory Channel",
    38: "IPMI Device Information",
    39: "System Power Supply",
    40: "Additional Information",
    41: "Onboard Devices Extended Info",
    126: "Inactive",
    127: "End-of-Table",
    130: "Memory SPD Data",
    131: "OEM Processor Type",
    132: "OEM Processor Bus Speed",
}
