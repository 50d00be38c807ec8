"""secureboot_certificates and intel_me_info.

secureboot_certificates reads efivarfs trees built here under OSQLITE_ROOT:
db/dbx/KEK/PK variables holding EFI signature lists of certificates made
with the openssl command (the oracle for every certificate column) and of
SHA-256 hashes; truncated and garbage variables through the sanitizer
driver.

intel_me_info: this machine has no Intel ME, so the driver's part is played
by tests/cdriver/mei_shim.c, LD_PRELOADed into a Python (or the sanitizer
driver) that runs the query: it answers the HECI connect ioctl, the write
and the read as the mei driver would, from the bytes each test scripts,
and logs what osqlite sent.  The real device path is tried too: no device,
no rows, no error, as osquery."""
from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from asan_helper import driver, run_asan
from conftest import rows

REPO = Path(__file__).resolve().parent.parent
EFIVARS = "sys/firmware/efi/efivars"
GLOBAL = "8be4df61-93ca-11d2-aa0d-00e098032b8c"
IMAGE_SEC = "d719b2cb-3d3a-4596-a3bc-dad00e67656f"
X509_GUID = uuid.UUID("a5c059a1-94e4-4aa7-87b5-ab155c2bf072").bytes_le
SHA256_GUID = uuid.UUID("c1c41626-504c-4092-aca9-41f936934328").bytes_le
OWNER = uuid.UUID("77fa9abd-0359-4d32-bd60-28f4e78f784b").bytes_le
ATTRS = struct.pack("<I", 0x27)     # NV | BS | RT | time-based authenticated


def esl(sig_type: bytes, sigs: list[bytes], header: bytes = b"") -> bytes:
    """One EFI_SIGNATURE_LIST of equally sized signatures."""
    size = 16 + len(sigs[0])
    body = b"".join(OWNER + s for s in sigs)
    return sig_type + struct.pack("<III", 28 + len(header) + len(body), len(header), size) \
        + header + body


def openssl(*a: str, **kw) -> str:
    return subprocess.run(["openssl", *a], check=True, capture_output=True, text=True,
                          **kw).stdout


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command makes the certificates and is the oracle "
                    "(Debian package openssl)")
    d = tmp_path_factory.mktemp("sbcerts")
    out = {}
    specs = {
        "pk": ("rsa:2048", "/CN=osqlite Platform Key/O=osqlite tests", []),
        "db": ("rsa:3072", "/CN=osqlite UEFI CA 2023/O=osqlite tests",
               ["-addext", "keyUsage=critical,keyCertSign,cRLSign"]),
        "ec": ("ec", "/CN=osqlite EC signer", []),
        "bad": ("rsa:2048", "/CN=revoked signer", []),
    }
    for name, (alg, subj, ext) in specs.items():
        key, pem = d / f"{name}.key", d / f"{name}.pem"
        newkey = ["-newkey", alg] if alg != "ec" else \
            ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
        subprocess.run(["openssl", "req", "-x509", *newkey, "-nodes", "-keyout", str(key),
                        "-out", str(pem), "-days", "400", "-subj", subj, *ext],
                       check=True, capture_output=True)
        der = subprocess.run(["openssl", "x509", "-in", str(pem), "-outform", "DER"],
                             check=True, capture_output=True).stdout
        out[name] = (pem, der)
    return out


def write_var(root: Path, name: str, data: bytes) -> Path:
    p = root / EFIVARS / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    return p


def efitree(root: Path, certs) -> None:
    db = esl(X509_GUID, [certs["db"][1]]) + esl(X509_GUID, [certs["ec"][1]])
    # dbx: a hash list (skipped), then a revoked certificate.
    dbx = esl(SHA256_GUID, [bytes(range(32)), bytes(32)]) + esl(X509_GUID, [certs["bad"][1]])
    write_var(root, f"db-{IMAGE_SEC}", ATTRS + db)
    write_var(root, f"dbx-{IMAGE_SEC}", ATTRS + dbx)
    write_var(root, f"KEK-{GLOBAL}", ATTRS + esl(X509_GUID, [certs["pk"][1]]))
    write_var(root, f"PK-{GLOBAL}", ATTRS + esl(X509_GUID, [certs["pk"][1]]))
    write_var(root, f"dbDefault-{GLOBAL}", ATTRS + esl(X509_GUID, [certs["pk"][1]]))


def x509(pem: Path, *args: str) -> str:
    return openssl("x509", "-in", str(pem), "-noout", *args).strip()


def test_secureboot_certificates_against_openssl(conn, root, tmp_path, certs):
    efitree(tmp_path, certs)
    root(tmp_path)
    got = rows(conn, "SELECT * FROM secureboot_certificates")
    # db then dbx, as osquery's two stores; KEK, PK and dbDefault are not read.
    assert [(r["common_name"], r["revoked"]) for r in got] == [
        ("osqlite UEFI CA 2023", 0), ("osqlite EC signer", 0), ("revoked signer", 1)]
    assert [r["path"] for r in got] == [f"/{EFIVARS}/db-{IMAGE_SEC}"] * 2 + \
        [f"/{EFIVARS}/dbx-{IMAGE_SEC}"]
    for r, name in zip(got, ("db", "ec", "bad")):
        pem = certs[name][0]
        assert r["serial"] == x509(pem, "-serial").split("=", 1)[1]
        fp = x509(pem, "-fingerprint", "-sha1").split("=", 1)[1]
        assert r["sha1"] == fp.replace(":", "").lower()
        assert r["subject"] == x509(pem, "-subject", "-nameopt", "compat").split("=", 1)[1]
        assert r["issuer"] == r["subject"] and r["self_signed"] == 1
        end = x509(pem, "-enddate").split("=", 1)[1]
        assert r["not_valid_after"] == int(time.mktime(time.strptime(end, "%b %d %H:%M:%S %Y %Z")))
        start = x509(pem, "-startdate").split("=", 1)[1]
        assert r["not_valid_before"] == int(time.mktime(time.strptime(start,
                                                                       "%b %d %H:%M:%S %Y %Z")))
        text = x509(pem, "-text")
        ski = text.split("X509v3 Subject Key Identifier:")[1].split("\n")[1].strip()
        assert r["subject_key_id"] == ski.replace(":", "").lower()
        assert r["signing_algorithm"] == "sha256WithRSAEncryption" if name != "ec" else \
            r["signing_algorithm"] == "ecdsa-with-SHA256"
    db, ec, bad = got
    assert (db["key_algorithm"], db["key_strength"], db["is_ca"]) == ("rsaEncryption", "3072", 1)
    assert db["key_usage"] == "CRL Sign, Key Cert Sign"
    assert (ec["key_algorithm"], ec["key_strength"]) == ("id-ecPublicKey", "prime256v1")
    assert bad["key_usage"] == "" and bad["revoked"] == 1
    # osquery's example query.
    assert rows(conn, "SELECT common_name FROM secureboot_certificates WHERE revoked = 1") == \
        [{"common_name": "revoked signer"}]


def test_secureboot_certificates_without_efi(conn, root, tmp_path):
    root(tmp_path)
    assert rows(conn, "SELECT * FROM secureboot_certificates") == []
    (tmp_path / EFIVARS).mkdir(parents=True)
    os.mkfifo(tmp_path / EFIVARS / f"db-{IMAGE_SEC}")
    (tmp_path / EFIVARS / f"dbx-{IMAGE_SEC}").mkdir()
    assert rows(conn, "SELECT * FROM secureboot_certificates") == []


def hostile_vars(certs) -> dict[str, bytes]:
    der = certs["db"][1]
    good = esl(X509_GUID, [der])
    return {
        "empty": b"",
        "attrs_only": ATTRS,
        "short_header": ATTRS + good[:27],
        "truncated_cert": ATTRS + good[:200],
        "list_size_zero": ATTRS + X509_GUID + struct.pack("<III", 0, 0, len(der) + 16) + der,
        "list_size_huge": ATTRS + X509_GUID + struct.pack("<III", 0xFFFFFFFF, 0, 100) + der,
        "sig_size_16": ATTRS + X509_GUID + struct.pack("<III", 28 + 64, 0, 16) + bytes(64),
        "sig_size_huge": ATTRS + X509_GUID + struct.pack("<III", 28 + 64, 0, 0xFFFFFFFF)
        + bytes(64),
        "header_huge": ATTRS + X509_GUID + struct.pack("<III", 28 + 64, 0xFFFFFFF0, 32)
        + bytes(64),
        "garbage_der": ATTRS + esl(X509_GUID, [os.urandom(700)]),
        "der_cut_in_list": ATTRS + esl(X509_GUID, [der[:-40]]),
        "random": os.urandom(3000),
        "good_then_garbage": ATTRS + good + os.urandom(100),
    }


def test_secureboot_certificates_hostile(conn, root, tmp_path, certs):
    root(tmp_path)
    cases = hostile_vars(certs)
    for name, data in cases.items():
        write_var(tmp_path, f"db-{name}", data)
    got = rows(conn, "SELECT path, common_name FROM secureboot_certificates")
    # Only the lists that hold a whole certificate give rows.
    assert sorted(r["path"].rsplit("/", 1)[1] for r in got) == ["db-good_then_garbage"]
    run_asan(tmp_path, "SELECT * FROM secureboot_certificates")


# ---- intel_me_info -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def shim(tmp_path_factory) -> Path:
    if shutil.which("gcc") is None:
        pytest.skip("gcc builds the mei driver stand-in")
    out = tmp_path_factory.mktemp("shim") / "mei_shim.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-O1", "-o", str(out),
                    str(REPO / "tests/cdriver/mei_shim.c"), "-ldl"], check=True)
    return out


def version_reply(major, minor, hotfix, build, tail=b"") -> bytes:
    return bytes(range(28)) + struct.pack("<4H", major, minor, hotfix, build) + bytes(20) + tail


QUERY = ("import osqlite, sys; c = osqlite.connect(); "
         "print(repr(c.execute('SELECT * FROM intel_me_info').fetchall()))")


def run_me(shim: Path, tmp_path: Path, ioctl: str, read: str) -> tuple[list, list[str]]:
    log = tmp_path / "mei.log"
    log.unlink(missing_ok=True)
    env = dict(os.environ, LD_PRELOAD=str(shim), MEI_SHIM_IOCTL=ioctl, MEI_SHIM_READ=read,
               MEI_SHIM_LOG=str(log))
    env.pop("OSQLITE_ROOT", None)
    r = subprocess.run([sys.executable, "-c", QUERY], capture_output=True, text=True, env=env,
                       timeout=60, cwd=REPO)
    assert r.returncode == 0, r.stderr
    sent = log.read_text().splitlines() if log.exists() else []
    return eval(r.stdout), sent  # noqa: S307 (our own repr of a list of tuples)


def test_intel_me_version_over_heci(shim, tmp_path):
    got, sent = run_me(shim, tmp_path, "0002000001000000", version_reply(16, 1, 25, 2176).hex())
    assert got == [("16.1.25.2176",)]
    # The connect carries the update client's GUID, then the 4-byte command.
    assert sent == ["ioctl e8cd9d30b1cc62408f78600115a34327", "write 00000000"]


@pytest.mark.parametrize("ioctl,read,why", [
    ("fail", "", "the device refuses the connect"),
    ("0002000002000000", version_reply(1, 2, 3, 4).hex(), "protocol version 2"),
    ("0002000001000000", "timeout", "the ME never answers"),
    ("0002000001000000", version_reply(1, 2, 3, 4)[:55].hex(), "a short reply"),
    ("0002000001000000", "", "an empty reply"),
])
def test_intel_me_unusable_replies_give_no_row(shim, tmp_path, ioctl, read, why):
    got, _ = run_me(shim, tmp_path, ioctl, read)
    assert got == [], why


def test_intel_me_without_device(conn, root, tmp_path):
    # This machine has no /dev/mei0: no rows and no error, as osquery.
    assert os.path.exists("/dev/mei0") or rows(conn, "SELECT * FROM intel_me_info") == []
    root(tmp_path)
    (tmp_path / "dev").mkdir()
    assert rows(conn, "SELECT * FROM intel_me_info") == []
    (tmp_path / "dev/mei0").write_bytes(version_reply(1, 2, 3, 4))
    assert rows(conn, "SELECT * FROM intel_me_info") == []
    (tmp_path / "dev/mei0").unlink()
    os.mkfifo(tmp_path / "dev/mei0")
    assert rows(conn, "SELECT * FROM intel_me_info") == []


def test_intel_me_garbage_under_sanitizers(shim, tmp_path):
    """Garbage replies through the sanitizer driver (libasan first, then the
    stand-in, so the driver's calls reach the stand-in through ASan)."""
    drv = driver()
    libasan = subprocess.run(["gcc", "-print-file-name=libasan.so"], capture_output=True,
                             text=True).stdout.strip()
    if not os.path.exists(libasan):
        pytest.skip("libasan.so is not where gcc says")
    # (connect reply, read reply, rows): a reply longer than 56 bytes is cut
    # to the 56 asked for, as the driver cuts a message to the buffer.
    for ioctl, read, n in (("ffffffffffffffffffffffffffffffff", os.urandom(56).hex(), 0),
                           ("0000000001", os.urandom(4000).hex(), 1),
                           ("00000000010000000000000000000000",
                            version_reply(65535, 0, 65535, 9).hex(), 1),
                           ("01", "00", 0)):
        env = dict(os.environ, LD_PRELOAD=f"{libasan}:{shim}", MEI_SHIM_IOCTL=ioctl,
                   MEI_SHIM_READ=read, ASAN_OPTIONS="detect_leaks=1")
        env.pop("OSQLITE_ROOT", None)
        r = subprocess.run([str(drv), "SELECT * FROM intel_me_info"], capture_output=True,
                           text=True, env=env, timeout=60)
        out = r.stdout + r.stderr
        assert r.returncode == 0 and "Sanitizer" not in out and "runtime error" not in out, out
        assert f"{n} rows:" in out, out
