"""The proxy's configuration: command line, config file, checks.

A bad option, value or environment is a :class:`ConfigError`: one line on
stderr (and in the spawner's start report) and exit status 2.
"""

from __future__ import annotations


class ConfigError(Exception):
    """A problem with the proxy's options: printed as one line, exit code 2."""
