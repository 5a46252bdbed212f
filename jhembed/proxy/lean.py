"""Keep JupyterHub's database layer out of the proxy process until something uses it.

``jupyterhub.utils`` imports ``sqlalchemy.exc``, which runs SQLAlchemy's
package ``__init__`` (its engine and SQL compiler, about 13 MiB), and
``jupyterhub.services.auth`` (HubOAuth) imports ``jupyterhub.scopes``, which
imports ``jupyterhub.orm`` and ``jupyterhub.roles`` at module level (the ORM
and alembic, about 18 MiB more). The proxy only calls functions that never
touch them (``url_path_join``, ``check_scopes``, ``_intersect_expanded_scopes``
without a database), so the command registers placeholders for ``sqlalchemy``,
``jupyterhub.orm`` and ``jupyterhub.roles`` before the first import. A
placeholder imports the real module the first time any attribute of it is
read; a package's submodules (``sqlalchemy.exc``, ``sqlalchemy.util``) import
as they are, the real ones, and become the real package's once it loads. So
code that does use the database gets it, only later: nothing of JupyterHub's
or SQLAlchemy's logic is copied or changed.

Only the ``jupyter-embedproxy`` command does this (:func:`command`, its
console-script entry point, registers them before it imports the proxy),
never a process that imports jhembed as a library, such as the Hub.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types

HUB_DATABASE_MODULES = ("sqlalchemy", "jupyterhub.orm", "jupyterhub.roles")
# the submodules of a deferred package that import as they are, before the package
LIGHT_SUBMODULES = {"sqlalchemy": ("exc", "util")}


class _Deferred(types.ModuleType):
    """Stands in for a module until one of its attributes is read."""

    def __getattr__(self, attr):
        # a submodule imported through the placeholder (``from sqlalchemy import exc``)
        sub = sys.modules.get(f"{self.__name__}.{attr}")
        if sub is not None:
            return sub
        return getattr(load(self.__name__), attr)


def load(name):
    """The real module ``name``, imported now if only its placeholder is there."""
    deferred = isinstance(sys.modules.get(name), _Deferred)
    if deferred:
        del sys.modules[name]
    module = importlib.import_module(name)
    if deferred:
        # submodules imported while the placeholder stood in are the real package's
        prefix = name + "."
        for key, sub in list(sys.modules.items()):
            child = key[len(prefix) :]
            if key.startswith(prefix) and "." not in child and not hasattr(module, child):
                setattr(module, child, sub)
    return module


class _LoadFirst(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """An import of any other submodule of a deferred package loads the real package first,
    in its own order (SQLAlchemy's submodules import each other circularly), then the
    submodule under it: the import gets that module, never a second copy."""

    def find_spec(self, fullname, path, target=None):
        package, _, sub = fullname.partition(".")
        if not sub or not isinstance(sys.modules.get(package), _Deferred):
            return None
        if sub.partition(".")[0] in LIGHT_SUBMODULES.get(package, ()):
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec):
        load(spec.name.partition(".")[0])
        module = importlib.import_module(spec.name)
        spec.loader_state = module.__spec__  # the import system sets ours on it: put back
        return module

    def exec_module(self, module):
        module.__spec__ = module.__spec__.loader_state


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
    if spec.submodule_search_locations is not None:  # a package: its submodules import
        placeholder.__path__ = list(spec.submodule_search_locations)
        if not any(isinstance(f, _LoadFirst) for f in sys.meta_path):
            sys.meta_path.insert(0, _LoadFirst())
    sys.modules[name] = placeholder
    parent, _, child = name.rpartition(".")
    if parent in sys.modules:  # ``import jupyterhub.orm`` then ``jupyterhub.orm.User``
        setattr(sys.modules[parent], child, placeholder)
    return True


def defer_hub_database():
    """Placeholders for SQLAlchemy and JupyterHub's ORM and roles (see the module docstring)."""
    return [name for name in HUB_DATABASE_MODULES if defer(name)]


def command():
    """The ``jupyter-embedproxy`` console script: the placeholders, then the proxy."""
    defer_hub_database()
    from .app import main

    return main()
