"""Build osqlite: one SQLite loadable extension (csrc/) shipped inside the
osqlite Python package as osqlite/libosqlite.so.

The library has no Python symbols: it is the same file the sqlite3 shell
loads with `.load`.  It is built through setuptools' build_ext only so that
`pip install .` compiles it; the file name carries no ABI tag because any
interpreter (or any SQLite host) can load it.
"""
from __future__ import annotations

import glob
import os

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class BuildSqliteExtension(build_ext):
    """Name the output libosqlite.so: SQLite derives the default entry point
    sqlite3_osqlite_init from that name, so `.load .../libosqlite` works."""

    def get_ext_filename(self, fullname: str) -> str:
        return os.path.join(*fullname.split(".")) + ".so"

    def get_export_symbols(self, ext: Extension) -> list[str]:
        return ["sqlite3_osqlite_init"]


# csrc/ holds the engine, csrc/lib/ the shared data-source helpers and
# csrc/tables/ the table families (one file per family).
sources = sorted(glob.glob("csrc/*.c") + glob.glob("csrc/lib/*.c") + glob.glob("csrc/tables/*.c"))

setup(
    ext_modules=[
        Extension(
            "osqlite.libosqlite",
            sources=sources,
            include_dirs=["csrc", "csrc/lib"],
            depends=sorted(glob.glob("csrc/*.h") + glob.glob("csrc/lib/*.h")),
            extra_compile_args=["-std=gnu11", "-Wall", "-Wextra",
                                "-fvisibility=hidden", "-O2"],
            libraries=["m", "dl"],   # libdl: part of glibc (a stub since 2.34)
        )
    ],
    cmdclass={"build_ext": BuildSqliteExtension},
)
