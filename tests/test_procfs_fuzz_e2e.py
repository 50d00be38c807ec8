"""Every table under AddressSanitizer and UBSan over hundreds of hostile trees.

tests/procfs_fuzz.py builds a root with everything the tables read (/proc,
/sys, /etc, /var, /usr, homes) and, per tree, mutates a seeded random set of
its files: truncated, binary junk, bytes that are not UTF-8, huge lines,
missing or extreme fields, repeated lines, FIFOs, directories, symbolic link
loops, links to devices.  build/osqlite-asan runs SELECT * of every table
plus joins and constrained queries on each tree (OSQLITE_ROOT), with a 3 s
per-statement interrupt like the daemon's schedule_timeout.  Any sanitizer
report (leaks included) fails the test with the seed, the tree and the
mutations, so a finding is reproduced with
`python3 tests/procfs_fuzz.py --seed S --trees N --keep DIR`.

The seed and tree count are fixed (OSQLITE_FUZZ_SEED / OSQLITE_FUZZ_TREES
change them for a longer run by hand); the run is bounded by a time budget.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import procfs_fuzz

SEED = int(os.environ.get("OSQLITE_FUZZ_SEED", "1"))
TREES = int(os.environ.get("OSQLITE_FUZZ_TREES", "200"))
BUDGET = 900.0


def test_hostile_trees_under_sanitizers(asan_driver):
    work = Path(tempfile.mkdtemp(prefix="osqlite-fuzz-", dir=procfs_fuzz.scratch_dir()))
    try:
        figures = procfs_fuzz.fuzz(asan_driver, work, SEED, TREES, budget=BUDGET)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\nhostile-tree fuzz: seed {SEED}, {figures['trees']} trees, "
          f"{figures['mutations']} mutations, {figures['sql_errors']} SQL errors "
          f"(allowed), {figures['interrupted']} statements interrupted at "
          f"{procfs_fuzz.STATEMENT_LIMIT} s, {figures['seconds']} s, 0 sanitizer reports")
    assert figures["trees"] == TREES
