"""Build osqlite: one SQLite loadable extension (csrc/) shipped inside the
osqlite Python package as osqlite/libosqlite.so.

The library has no Python symbols: it is the same file the sqlite3 shell
loads with `.load`.  It is built through setuptools' build_ext only so that
`pip install .` compiles it; the file name carries no ABI tag because any
interpreter (or any SQLite host) can load it, and the wheel is tagged
py3-none-<platform> for the same reason.

Every build compiles the sources: a library already in the tree
(osqlite/libosqlite.so from `make`, perhaps with other CFLAGS) or in build/
is never what a wheel ships.
"""
from __future__ import annotations

import glob
import os

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

try:
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:                     # setuptools < 70.1: the wheel package's
    from wheel.bdist_wheel import bdist_wheel


class BuildSqliteExtension(build_ext):
    """Name the output libosqlite.so: SQLite derives the default entry point
    sqlite3_osqlite_init from that name, so `.load .../libosqlite` works."""

    def initialize_options(self) -> None:
        super().initialize_options()
        # build_ext skips an extension whose output is newer than its
        # sources; that output may be a library built some other way.
        self.force = True

    def get_ext_filename(self, fullname: str) -> str:
        return os.path.join(*fullname.split(".")) + ".so"

    def get_export_symbols(self, ext: Extension) -> list[str]:
        return ["sqlite3_osqlite_init"]


class PlatformWheel(bdist_wheel):
    """py3-none-<platform>: the library links libc only and SQLite hands it
    its API at load time, so one wheel serves every Python 3 on the platform."""

    def finalize_options(self) -> None:
        super().finalize_options()
        self.root_is_pure = False

    def get_tag(self) -> tuple[str, str, str]:
        _, _, plat = super().get_tag()
        return "py3", "none", plat


# csrc/ holds the engine, csrc/lib/ the shared data-source helpers and
# csrc/tables/ the table families (one file per family).
sources = sorted(glob.glob("csrc/*.c") + glob.glob("csrc/lib/*.c") + glob.glob("csrc/tables/*.c"))

setup(
    ext_modules=[
        Extension(
            "osqlite.libosqlite",
            sources=sources,
            include_dirs=["csrc", "csrc/lib"],
            depends=sorted(glob.glob("csrc/*.h") + glob.glob("csrc/lib/*.h") + glob.glob("csrc/tables/*.h")),
            extra_compile_args=["-std=gnu11", "-Wall", "-Wextra",
                                "-fvisibility=hidden", "-O2"],
            libraries=["m", "dl"],   # libdl: part of glibc (a stub since 2.34)
            # The SONAME lets ldconfig cache the installed copy as
            # "osqlite.so", the name `.load osqlite` asks for (osqlite/install.py).
            extra_link_args=["-Wl,-soname,osqlite.so"],
        )
    ],
    cmdclass={"build_ext": BuildSqliteExtension, "bdist_wheel": PlatformWheel},
)
