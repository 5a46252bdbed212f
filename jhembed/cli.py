"""The ``jhembed`` command: ``jhembed check-config jupyterhub_config.py``.

Loads the config file as JupyterHub does (traitlets' ``PyFileConfigLoader``),
builds the EmbedSpawner catalog with the spawner's own code and says
``OK: 2 apps (dashboard, lab)`` (exit 0) or names the bad setting (exit 1).
Usage errors and a missing file exit with 2.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback


def _parser():
    parser = argparse.ArgumentParser(
        prog="jhembed", description="Tools for JupyterHub admins using jhembed."
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    check = commands.add_parser(
        "check-config",
        help="check the EmbedSpawner catalog of a jupyterhub_config.py without starting a Hub",
        description="Load a JupyterHub config file as the Hub does and check its app catalog "
        "(c.EmbedSpawner.apps). Exit 0 when it is good, 1 when it is not, 2 on usage errors.",
    )
    check.add_argument(
        "config_file",
        nargs="?",
        default="jupyterhub_config.py",
        help="the config file (default: jupyterhub_config.py)",
    )
    return parser


def check_config(path):
    """Check the config file at ``path``; print the verdict; return the exit status."""
    from traitlets import TraitError
    from traitlets.config.loader import ConfigFileNotFound, PyFileConfigLoader

    from .config import check

    if not os.path.isfile(path):
        print(f"jhembed check-config: error: {path}: no such file", file=sys.stderr)
        return 2
    directory, filename = os.path.split(os.path.abspath(path))
    loader = PyFileConfigLoader(filename, path=directory)
    try:
        config = loader.load_config()
        catalog = check(config)
    except ConfigFileNotFound:
        print(f"jhembed check-config: error: {path}: no such file", file=sys.stderr)
        return 2
    except TraitError as e:
        print(f"{path}: {e}", file=sys.stderr)
        return 1
    except Exception as e:  # the config file itself failed: show where
        traceback.print_exc(file=sys.stderr)
        print(f"{path}: the file raised {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    count = f"{len(catalog)} app" + ("" if len(catalog) == 1 else "s")
    print(f"OK: {count} ({', '.join(catalog)})")
    return 0


def main(argv=None):
    args = _parser().parse_args(argv)
    if args.command == "check-config":
        return check_config(args.config_file)
    return 2  # pragma: no cover (argparse requires a command)


if __name__ == "__main__":
    sys.exit(main())
