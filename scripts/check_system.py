"""Check what `make run` and `make test` need from the system, with a readable message."""

from __future__ import annotations

import ctypes.util
import shutil
import sqlite3
import subprocess
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

# Fonts the PDF report asks for; without them it still renders, in another font or with boxes.
fonts = ""
if shutil.which("fc-list"):
    fonts = subprocess.run(["fc-list", ":", "family"], capture_output=True, text=True, check=False).stdout
for family, package, what in (
    ("DejaVu Sans", "fonts-dejavu-core", "the report's text font"),
    ("Noto Color Emoji", "fonts-noto-color-emoji", "emoji in study texts (a box without it)"),
):
    if family not in fonts:
        print(f"Note: the PDF report uses {family} for {what}: on Debian/Ubuntu `apt-get install {package}`.")
