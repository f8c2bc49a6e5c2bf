"""Delphi: run Delphi expert surveys end to end."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("delphi")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"
