#!/usr/bin/env python3
"""Regenerate the join-order and socket section of bench/RESULTS.md from
the bench scripts of those rows.

    python3 bench/results.py [--rounds 5] [--before OTHER_LIBOSQLITE.so]

Runs bench_join_sockets.py, bench_join_envs.py, bench_sockets.py and
bench_listening.py one after the other (never in parallel: they measure the
same machine), each with --markdown, and writes their rows between the
perf:start and perf:end markers of RESULTS.md; the rest of the file (the
daemon, event and large-result sections) is left as it is.  --before also
times another build of the extension (say, main's) with the same scripts,
for a before/after table; without it, the before table of an earlier run is
kept.
"""
from __future__ import annotations

import argparse
import datetime
import os
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
SCRIPTS = ["bench_join_sockets.py", "bench_join_envs.py", "bench_sockets.py",
           "bench_listening.py"]
HEAD = ("| what | osqlite | limit or best peer | ratio | load average (1 min) |\n"
        "|---|---|---|---|---|")


def rows(rounds: int, lib: str | None) -> list[str]:
    out = []
    for script in SCRIPTS:
        argv = [sys.executable, str(HERE / script), "--rounds", str(rounds), "--markdown"]
        if lib:     # the build before: one run per round is plenty (seconds each)
            argv += ["--lib", lib, "--reps", "0.1"]
        r = subprocess.run(argv, capture_output=True, text=True, check=True)
        sys.stdout.write(r.stdout)
        out.append([ln for ln in r.stdout.splitlines() if ln.startswith("| ")][-1])
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--before", help="another build of the extension to time first")
    a = ap.parse_args()
    before = rows(a.rounds, a.before) if a.before else []
    after = rows(a.rounds, None)
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    text = [f"Measured {now} on {os.cpu_count()} shared cores by "
            f"`python3 bench/results.py --rounds {a.rounds}`; every time is the median "
            f"of {a.rounds} interleaved rounds, the limit or peer from the same rounds, and "
            "every ratio the median of the rounds' own ratios (so that a load that changes "
            "between rounds cancels out).",
            "The other rows of the same table, CPU per 1000 events (bench_events.py) and the "
            "100,000 and 1,000,000-row results (bench_daemon.py), have their own sections.",
            "", HEAD, *after]
    old = RESULTS.read_text()
    if before:
        text += ["", f"The same scripts on the build before this work (`--lib {a.before}`, "
                 f"measured {now}):", "", HEAD, *before]
    else:       # keep the before table of an earlier run
        m = re.search(r"\n(The same scripts on the build before.*?)\n<!-- perf:end -->", old,
                      flags=re.S)
        if m:
            text += ["", m.group(1)]
    section = "<!-- perf:start -->\n" + "\n".join(text) + "\n<!-- perf:end -->"
    if "<!-- perf:start -->" in old:
        new = re.sub(r"<!-- perf:start -->.*?<!-- perf:end -->", lambda _: section, old,
                     flags=re.S)
    else:
        new = old.rstrip() + "\n\n## Join order and the socket tables\n\n" + section + "\n"
    RESULTS.write_text(new)
    print(f"\n{RESULTS} updated")


if __name__ == "__main__":
    main()
