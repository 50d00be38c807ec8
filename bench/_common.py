"""Shared pieces of the bench/ scripts: the C helpers they build, the load
average they report, interleaved rounds with medians, and the conditions
they create (extra processes, sockets), which are always cleaned up.

A contender is a function returning microseconds for one run; a round runs
every contender once, in turn, so that a teammate's job slows all of them
alike; the figure of a contender is its median over the rounds.  The
1-minute load average is read before and after every round.
"""
from __future__ import annotations

import contextlib
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Iterator

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"
LIB = ROOT / "osqlite" / "libosqlite.so"

HELPERS = {
    "osq_time": ("osq_time.c", ["-lsqlite3"]),
    "forker": ("forker.c", []),
    "sockdiag_limit": ("sockdiag_limit.c", []),
    "raw_procfs": ("raw_procfs.c", []),
}


def build(*names: str) -> None:
    """Compile the named helpers of bench/ into build/."""
    BUILD.mkdir(exist_ok=True)
    for name in names:
        src, libs = HELPERS[name]
        subprocess.run(["gcc", "-O2", "-o", str(BUILD / name),
                        str(ROOT / "bench" / src), *libs], check=True)


def library(path: str | None) -> Path:
    lib = Path(path) if path else LIB
    if not lib.exists():
        sys.exit(f"{lib}: no extension there; build it first with `make`")
    return lib


def loadavg() -> float:
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def parse(out: str) -> dict[str, float]:
    return {k: float(v) for k, v in (f.split("=") for f in out.split())}


def helper(name: str, *args: str) -> dict[str, float]:
    r = subprocess.run([str(BUILD / name), *args], check=True,
                       capture_output=True, text=True)
    return parse(r.stdout)


def osq(lib: Path, sql: str, reps: float) -> float:
    """Microseconds per run of sql through the extension, from C (the
    mean of max(1, reps) runs)."""
    return helper("osq_time", str(lib), str(max(1, round(reps))), sql)["usec"]


def osq_rows(lib: Path, sql: str) -> int:
    return int(helper("osq_time", str(lib), "1", sql)["rows"])


def whole_process(argv: list[str]) -> float:
    """Microseconds for one run of a command, start to exit."""
    t = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    return (time.perf_counter() - t) * 1e6


class Result:
    def __init__(self, runs: dict[str, list[float]], loads: list[float]):
        self.runs = runs
        self.loads = loads
        self.med = {k: statistics.median(v) for k, v in runs.items()}

    def ratio(self, a: str, *b: str) -> float:
        """The median over rounds of a's time over the best of b's in the
        same round: a load that changes between rounds cancels out."""
        return statistics.median(
            x / min(self.runs[k][i] for k in b) for i, x in enumerate(self.runs[a]))

    def load(self) -> str:
        return f"{min(self.loads):.2f}-{max(self.loads):.2f}"


def rounds(contenders: dict[str, Callable[[], float]], n: int) -> Result:
    """n rounds; round i starts with contender i (mod their number), so none
    always runs right after the same neighbour."""
    runs: dict[str, list[float]] = {k: [] for k in contenders}
    names = list(contenders)
    loads = []
    for i in range(n):
        loads.append(loadavg())
        for k in range(len(names)):
            name = names[(i + k) % len(names)]
            runs[name].append(contenders[name]())
        loads.append(loadavg())
    return Result(runs, loads)


def show(title: str, res: Result) -> None:
    print(f"\n{title}  (load average {res.load()}, {len(next(iter(res.runs.values())))}"
          " interleaved rounds; medians)")
    for k, v in res.runs.items():
        print(f"  {k:40s} {res.med[k] / 1000:9.2f} ms   rounds: "
              + " ".join(f"{x / 1000:.1f}" for x in v))


def ms(us: float) -> str:
    return f"{us / 1000:.1f} ms" if us >= 10000 else f"{us / 1000:.2f} ms"


@contextlib.contextmanager
def processes(total: int) -> Iterator[int]:
    """Sleeping processes (bench/forker.c) until /proc holds about `total`;
    yields the count reached.  Killed and reaped on the way out."""
    now = sum(1 for d in os.listdir("/proc") if d.isdigit())
    extra = max(0, total - now)
    if extra == 0:
        yield now
        return
    p = subprocess.Popen([str(BUILD / "forker"), str(extra)], stdout=subprocess.PIPE,
                         text=True, start_new_session=True)
    try:
        p.stdout.readline()
        yield sum(1 for d in os.listdir("/proc") if d.isdigit())
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


HOLDER = r"""
import resource, socket, struct, sys
n = int(sys.argv[1])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
want = n + 64
if hard != resource.RLIM_INFINITY and hard < want:
    hard = want                                     # root may raise it
resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), hard))
held = []
while len(held) < n:
    # per ten: 2 TCP listeners, a connected TCP pair (+ its listener),
    # 2 UDP sockets, 2 UNIX socket pairs, as a busy server holds them
    for _ in range(2):
        s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(4); held.append(s)
    lst = held[-1]
    c = socket.create_connection(lst.getsockname()); a, _ = lst.accept()
    for s in (c, a):    # reset on close: no TIME_WAIT left for the next run
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    held += [c, a]
    for _ in range(2):
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 0))
        held.append(u)
    for _ in range(2):
        held += list(socket.socketpair())
for s in held[n:]:
    s.close()
print("ready", flush=True)
sys.stdin.read()
"""


@contextlib.contextmanager
def sockets(n: int) -> Iterator[int]:
    """A process holding n sockets (TCP listening and connected, UDP, UNIX);
    yields its pid.  Killed on the way out."""
    if n <= 0:
        yield os.getpid()
        return
    p = subprocess.Popen([sys.executable, "-c", HOLDER, str(n)], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    try:
        if p.stdout.readline().strip() != "ready":
            sys.exit("the socket holder failed to start")
        yield p.pid
    finally:
        p.stdin.close()
        p.kill()
        p.wait()


def args(doc: str):
    import argparse
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--lib", help="another build of the extension (before/after)")
    ap.add_argument("--markdown", action="store_true",
                    help="also print the row of bench/RESULTS.md")
    ap.add_argument("--reps", type=float, default=1.0,
                    help="scale the runs per round (0.1 for a slow build)")
    a = ap.parse_args()
    a.reps = max(a.reps, 0.01)
    return a


def join_main(doc: str, row: str, as_written: str, orders: dict[str, str]) -> None:
    """A join as written against each hand-forced order, with the host's
    processes and with 500; ratio = as written / the better order."""
    a = args(doc)
    build("osq_time", "forker")
    lib = library(a.lib)
    cells = []

    def measure(label: str, reps: int) -> None:
        contenders = {"as written": lambda: osq(lib, as_written, reps)}
        for k, sql in orders.items():
            contenders[k] = (lambda sql=sql: osq(lib, sql, reps))
        res = rounds(contenders, a.rounds)
        show(label, res)
        best = min(res.med[k] for k in orders)
        ratio = res.ratio("as written", *orders)
        print(f"  ratio as written / best hand order = {ratio:.2f}  (target <= 1.2; "
              "median of the rounds' ratios)")
        cells.append((label, res.med["as written"], best, ratio, res.load()))

    # Enough runs per round that one round's figure is not one scheduling
    # accident (a.reps scales them; the build before this work needs 1).
    measure(f"{sum(1 for d in os.listdir('/proc') if d.isdigit())} processes", 10 * a.reps)
    with processes(500) as n:
        measure(f"{n} processes", 3 * a.reps)
    if a.markdown:
        print(f"\n| {row} | " + " / ".join(f"{ms(w)} ({lbl})" for lbl, w, *_ in cells)
              + " | best hand order: " + " / ".join(ms(b) for _, _, b, *_ in cells)
              + " | " + " / ".join(f"{r:.2f}x" for *_, r, _ in cells)
              + " | " + " / ".join(ld for *_, ld in cells) + " |")


def sockets_main(doc: str, row: str, sql: str, limit_mode: str,
                 peer: list[str]) -> None:
    """A socket table against the fd-scan + sock_diag limit and a peer
    command, at about 50 sockets and at 10,000."""
    import shutil
    a = args(doc)
    build("osq_time", "sockdiag_limit")
    lib = library(a.lib)
    have_peer = shutil.which(peer[0]) is not None
    base = osq_rows(lib, "SELECT * FROM process_open_sockets")
    cells = []
    for want, reps in ((50, 30 * a.reps), (10000, 2 * a.reps)):
        with sockets(max(0, want - base) if want == 50 else want):
            n = osq_rows(lib, "SELECT * FROM process_open_sockets")
            contenders = {
                "osqlite": lambda reps=reps: osq(lib, sql, reps),
                f"limit (sockdiag_limit {limit_mode})":
                    lambda reps=reps: helper("sockdiag_limit", str(max(1, round(reps))),
                                             limit_mode)["usec"],
            }
            if have_peer:
                contenders[" ".join(peer) + " (whole process)"] = lambda: whole_process(peer)
            res = rounds(contenders, a.rounds)
            show(f"{n} sockets ({osq_rows(lib, sql)} rows)", res)
            lim_key = f"limit (sockdiag_limit {limit_mode})"
            peer_key = " ".join(peer) + " (whole process)"
            lim = res.med[lim_key]
            ratio = res.ratio("osqlite", lim_key)
            print(f"  ratio osqlite / limit = {ratio:.2f}  (target <= 1.5; median of the "
                  "rounds' ratios)")
            pv = res.med.get(peer_key)
            if pv:
                print(f"  ratio osqlite / {' '.join(peer)} = {res.ratio('osqlite', peer_key):.2f}"
                      "  (target < 1)")
            cells.append((n, res.med["osqlite"], lim, pv, ratio,
                          res.ratio("osqlite", peer_key) if pv else None, res.load()))
    if not have_peer:
        print(f"({peer[0]} not installed: no peer figure)")
    if a.markdown:
        print(f"\n| {row} | "
              + " / ".join(f"{ms(o)} ({n} sockets)" for n, o, *_ in cells)
              + " | limit " + " / ".join(ms(lim) for _, _, lim, *_ in cells)
              + (f"; `{' '.join(peer)}` " + " / ".join(ms(c[3]) for c in cells)
                 if have_peer else "")
              + " | " + " / ".join(f"{c[4]:.2f}x" for c in cells)
              + (f" (`{peer[0]}`: " + " / ".join(f"{c[5]:.2f}x" for c in cells) + ")"
                 if have_peer else "")
              + " | " + " / ".join(c[6] for c in cells) + " |")
