"""Check what `make run` and `make test` need from the system, with a readable message."""

from __future__ import annotations

import ctypes.util
import sqlite3
import sys

problems = []
if sys.version_info < (3, 11):
    problems.append(f"Python 3.11 or newer is needed (this is {sys.version.split()[0]}); set PYTHON=python3.11.")
if sqlite3.sqlite_version_info < (3, 35):
    problems.append(f"SQLite 3.35 or newer is needed (this Python has {sqlite3.sqlite_version}): a newer Python.")
for library, package in (("pango-1.0", "libpango-1.0-0"), ("pangoft2-1.0", "libpangoft2-1.0-0"),
                         ("harfbuzz", "libharfbuzz0b"), ("harfbuzz-subset", "libharfbuzz-subset0"),
                         ("fontconfig", "libfontconfig1")):
    if ctypes.util.find_library(library) is None:
        problems.append(f"WeasyPrint (PDF reports) needs {library}: on Debian/Ubuntu `apt-get install {package}`.")
if problems:
    print("Cannot continue:\n  " + "\n  ".join(problems), file=sys.stderr)
    sys.exit(1)
