"""Set up EmbedSpawner in ``jupyterhub_config.py`` and check the catalog before the Hub runs.

``configure(c, apps={...})`` sets ``c.JupyterHub.spawner_class`` and
``c.EmbedSpawner.*`` and builds the catalog at once, with the code the spawner
itself uses, so a wrong entry stops ``jupyterhub`` while it loads its config,
with an error naming ``c.EmbedSpawner.apps['name'].field``. ``check(config)``
does the same for a config that is already loaded (``jhembed check-config``).
"""

from __future__ import annotations

import logging

from traitlets import TraitError

# spawner_class names registered by jhembed (jupyterhub.spawners entry points) -> class name
SPAWNERS = {
    "embed": "EmbedSpawner",
    "embed-simple": "SimpleEmbedSpawner",
    "embed-docker": "EmbedDockerSpawner",
    "embed-kubernetes": "EmbedKubeSpawner",
}

_log = logging.getLogger("jhembed.config")


def configure(c, apps, *, spawner="embed", **traits):
    """Use EmbedSpawner with the catalog ``apps``; raise at once when the catalog is wrong.

    ``c`` is the config of ``jupyterhub_config.py``; ``apps`` becomes
    ``c.EmbedSpawner.apps``; ``spawner`` becomes ``c.JupyterHub.spawner_class``
    (``"embed"``, ``"embed-simple"``, ``"embed-docker"``, ``"embed-kubernetes"``,
    or your own composition's class or import string); any other keyword sets
    the ``c.EmbedSpawner`` option of that name. Example::

        import jhembed

        jhembed.configure(
            c,
            apps={"dashboard": "voila", "lab": "jupyterlab"},
            frame_ancestors=["'self'", "https://host.example.com"],
        )

    Raises a ``traitlets.TraitError`` whose message names the bad setting
    (``c.EmbedSpawner.apps['dashboard'].command: ...``); JupyterHub shows it
    and exits while loading its config.
    """
    from jupyterhub.spawner import Spawner

    from .spawner import EmbedSpawnerMixin

    known = set(EmbedSpawnerMixin.class_traits(config=True)) | set(
        Spawner.class_traits(config=True)
    )
    for name in traits:
        if name not in known:
            raise TraitError(
                f"c.EmbedSpawner.{name} is not an EmbedSpawner option "
                "(jhembed.configure sets only those; set other classes' options as c.Class.option)"
            )
    c.JupyterHub.spawner_class = spawner
    c.EmbedSpawner.apps = apps
    for name, value in traits.items():
        c.EmbedSpawner[name] = value
    check(c)


def check(config):
    """Build the catalog a Hub with ``config`` would offer; return it (name -> App).

    Reads ``c.EmbedSpawner.*`` and the options of the configured spawner class
    (``c.EmbedKubeSpawner.apps`` wins over ``c.EmbedSpawner.apps``, as in the
    spawner). Raises ``TraitError`` naming the bad setting.
    """
    from traitlets.config import Config, LoggingConfigurable

    from .spawner import EmbedSpawnerMixin

    section = _spawner_section(config)
    probe_class = type(section, (EmbedSpawnerMixin, LoggingConfigurable), {})
    names = set(EmbedSpawnerMixin.class_own_traits(config=True))
    # only the catalog's options: the other Spawner options are not the probe's to judge
    sections = Config()
    for name in probe_class.section_names():
        if name in config:
            sections[name] = Config({k: v for k, v in config[name].items() if k in names})
    try:
        probe = probe_class(config=sections, log=_log)
        return probe.catalog
    except TraitError as e:
        message = str(e)
        if section != "EmbedSpawner" and "apps" in config.get(section, {}):
            # the entries came from the composition's own section: name that one
            message = message.replace("c.EmbedSpawner.apps[", f"c.{section}.apps[")
        raise type(e)(message) from None


def _spawner_section(config):
    """The class name of ``c.JupyterHub.spawner_class``; TraitError unless it is an EmbedSpawner."""
    hub = config.get("JupyterHub", {})
    if "spawner_class" not in hub:
        raise TraitError(
            "c.JupyterHub.spawner_class is not set: use jhembed.configure(c, apps=...) "
            'or c.JupyterHub.spawner_class = "embed"'
        )
    spawner = hub["spawner_class"]
    if isinstance(spawner, str) and spawner in SPAWNERS:
        return SPAWNERS[spawner]
    cls = _load_spawner_class(spawner)
    from .spawner import EmbedSpawnerMixin

    if not (isinstance(cls, type) and issubclass(cls, EmbedSpawnerMixin)):
        raise TraitError(
            f"c.JupyterHub.spawner_class = {spawner!r} is not an EmbedSpawner "
            f"(one of {', '.join(SPAWNERS)}, or a class with EmbedSpawnerMixin)"
        )
    return cls.__name__


def _load_spawner_class(spawner):
    """The class for a ``spawner_class`` value: a class, an entry point name or an import string."""
    if isinstance(spawner, type):
        return spawner
    from importlib.metadata import entry_points

    from traitlets.utils.importstring import import_item

    for ep in entry_points(group="jupyterhub.spawners", name=spawner):
        return ep.load()
    try:
        return import_item(spawner)
    except Exception as e:
        raise TraitError(
            f"c.JupyterHub.spawner_class = {spawner!r}: cannot import it: {e}"
        ) from None


__all__ = ["configure", "check", "SPAWNERS"]
