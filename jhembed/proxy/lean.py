"""Keep JupyterHub's database layer out of the proxy process until something uses it.

``jupyterhub.services.auth`` (HubOAuth) imports ``jupyterhub.scopes``, which
imports ``jupyterhub.orm`` and ``jupyterhub.roles`` at module level: SQLAlchemy's
ORM and alembic, about 18 MiB of a proxy's resident memory. The proxy only
calls scope functions that never touch them (``check_scopes``,
``_intersect_expanded_scopes`` without a database), so it registers
placeholders for the two modules before the first import. A placeholder
imports the real module the first time any attribute of it is read, so code
that does use the ORM gets it, only later: nothing of JupyterHub's logic is
copied or changed.

Only the ``jupyter-embedproxy`` command does this (:func:`defer_hub_database`
is called from its console-script ``main``), never a process that imports
jhembed as a library, such as the Hub.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types

HUB_DATABASE_MODULES = ("jupyterhub.orm", "jupyterhub.roles")


class _Deferred(types.ModuleType):
    """Stands in for a module until one of its attributes is read."""

    def __getattr__(self, attr):
        return getattr(load(self.__name__), attr)


def load(name):
    """The real module ``name``, imported now if only its placeholder is there."""
    if isinstance(sys.modules.get(name), _Deferred):
        del sys.modules[name]
    return importlib.import_module(name)


def defer(name):
    """Register a placeholder for ``name``, unless it is imported already.

    Returns True when a placeholder was registered.
    """
    if name in sys.modules:
        return False
    spec = importlib.util.find_spec(name)
    if spec is None:
        return False
    placeholder = _Deferred(name)
    placeholder.__spec__ = spec
    placeholder.__file__ = spec.origin
    sys.modules[name] = placeholder
    return True


def defer_hub_database():
    """Placeholders for JupyterHub's ORM and roles modules (see the module docstring)."""
    return [name for name in HUB_DATABASE_MODULES if defer(name)]
