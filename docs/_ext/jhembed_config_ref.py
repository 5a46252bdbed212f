"""Sphinx extension: the configuration reference, generated from the traits.

For every class in ``jhembed_config_classes`` it writes a MyST page to
``reference/generated/<Class>.md`` at build time, listing each ``config=True``
trait with its type, default, command-line option (for ``EmbedProxy``) and
help.  A trait without help text stops the build, naming ``Class.trait``.
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

from sphinx.errors import ExtensionError
from sphinx.util import logging

logger = logging.getLogger(__name__)


def _load(path):
    module, _, name = path.partition(":")
    try:
        mod = importlib.import_module(module)
    except ImportError as e:
        logger.info("config reference: skipping %s (%s)", path, e)
        return None
    return getattr(mod, name)


def _default(cls, name, trait):
    dynamic = f"_{name}_default" in dir(cls) or name in getattr(
        cls, "_trait_default_generators", {}
    )
    if dynamic:
        return "computed at start-up (see below)"
    try:
        value = trait.default()
    except Exception:  # noqa: BLE001
        return "computed"
    if value is None or repr(value).startswith("<traitlets"):
        return "None" if value is None else "computed"
    return f"`{value!r}`"


def _cli(cls, name):
    """Command-line spellings of ``cls.name`` (aliases and flags)."""
    target = f"{cls.__name__}.{name}"
    out = []
    for alias, dest in getattr(cls, "aliases", {}).items():
        dests = dest if isinstance(dest, tuple) else (dest,)
        if target in dests or any(isinstance(d, str) and d == target for d in dests):
            out.append(f"`--{alias}`")
    for flag, (conf, _help) in getattr(cls, "flags", {}).items():
        section = conf.get(cls.__name__, {}) if isinstance(conf, dict) else {}
        if name in section:
            out.append(f"`--{flag}`")
    return ", ".join(out)


def render(cls):
    lines = [f"# `{cls.__name__}`", ""]
    doc = inspect.getdoc(cls) or ""
    if doc:
        lines += [doc.splitlines()[0], ""]
    traits = cls.class_own_traits(config=True)
    if cls.__name__ == "EmbedProxy":
        traits = {n: t for n, t in cls.class_traits(config=True).items() if t.this_class is cls}
    for name in sorted(traits):
        trait = traits[name]
        help_text = inspect.cleandoc(trait.help or "")
        if not help_text:
            raise ExtensionError(f"config trait {cls.__name__}.{name} has no help text")
        lines += [f"## `c.{cls.__name__}.{name}`", ""]
        lines += [
            f"- type: `{trait.__class__.__name__}`",
            f"- default: {_default(cls, name, trait)}",
        ]
        cli = _cli(cls, name)
        if cli:
            lines.append(f"- command line: {cli}")
        lines += ["", help_text, ""]
    return "\n".join(lines) + "\n"


def generate(app):
    out = Path(app.srcdir) / "reference" / "generated"
    out.mkdir(parents=True, exist_ok=True)
    names = []
    for path in app.config.jhembed_config_classes:
        cls = _load(path)
        if cls is None:
            continue
        text = render(cls)
        target = out / f"{cls.__name__}.md"
        if not target.exists() or target.read_text() != text:
            target.write_text(text)
        names.append(cls.__name__)
    index = [
        "# Configuration reference",
        "",
        "Every option below is a traitlets trait: set it in a config file as shown,",
        "and for `EmbedProxy` also on the command line.",
        "",
        "```{toctree}",
        ":maxdepth: 1",
        "",
    ]
    index += [f"generated/{n}" for n in names] + ["```", ""]
    text = "\n".join(index)
    target = Path(app.srcdir) / "reference" / "config.md"
    if not target.exists() or target.read_text() != text:
        target.write_text(text)


def setup(app):
    app.add_config_value("jhembed_config_classes", [], "env")
    app.connect("builder-inited", generate)
    return {"parallel_read_safe": True, "version": "1"}
