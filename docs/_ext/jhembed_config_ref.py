"""Sphinx extension: the configuration reference, generated from the traits.

At ``builder-inited`` it imports every class named in ``jhembed_config_classes``
(``"module:Class"``) and writes one MyST page per class to
``reference/generated/<Class>.md``:

- a configurable class gets one section per ``config=True`` trait:
  ``c.Class.trait``, type, default, command-line spellings (read from the
  class's ``aliases`` and ``flags``) and help.  A traitlets ``Application``
  also lists the options it inherits (its config file and command line accept
  them); other classes list the traits defined in jhembed and name the
  classes they inherit the rest from.
- a class without config traits (a catalog entry such as ``App``) gets its
  fields, described by their help.

A default computed when the program starts (an ``@default`` method, usually
reading the environment) shows as "computed": the help says what it is, so
the page never shows the values of the machine that built the docs.

A module that cannot be imported (a part not written yet) is skipped with an
info message, not a warning, so ``-W`` builds pass.  A trait without help stops
the build with an error naming ``Class.trait``.

In ``reference/config.md`` the toctree line ``generated/*`` is replaced by the
generated pages, in the order of ``jhembed_config_classes``.
"""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

from sphinx.errors import ExtensionError
from sphinx.util import logging
from traitlets import Container, Dict, Enum, Instance, Type, Union
from traitlets.config import Application

logger = logging.getLogger(__name__)

GENERATED = "reference/generated"
INDEX_DOC = "reference/config"
GLOB_LINE = "generated/*"


# ---- loading ----------------------------------------------------------------------


def load_class(path):
    """The class named by ``"module:Class"``, or None (logged) if it is not there yet."""
    module, _, name = path.partition(":")
    if not name:
        raise ExtensionError(f"jhembed_config_classes: {path!r} is not 'module:Class'")
    try:
        mod = importlib.import_module(module)
    except ImportError as e:
        logger.info("config reference: skipping %s (module not importable: %s)", path, e)
        return None
    cls = getattr(mod, name, None)
    if cls is None:
        logger.info("config reference: skipping %s (no %s in %s yet)", path, name, module)
    return cls


def own_package(cls):
    return cls.__module__.split(".")[0]


# ---- one trait ----------------------------------------------------------------------


def type_name(trait):
    """``List[Unicode]``, ``Dict[Unicode]``, ``Union[Bool | Unicode]``..."""
    name = trait.__class__.__name__
    if isinstance(trait, Union):
        name = f"Union[{' | '.join(type_name(t) for t in trait.trait_types)}]"
    elif isinstance(trait, Container):
        if getattr(trait, "_trait", None) is not None:
            name = f"{name}[{type_name(trait._trait)}]"
    elif isinstance(trait, Dict):
        if getattr(trait, "_value_trait", None) is not None:
            name = f"{name}[{type_name(trait._value_trait)}]"
    elif isinstance(trait, (Instance, Type)) and isinstance(trait.klass, type):
        name = f"{name}[{trait.klass.__name__}]"
    elif isinstance(trait, Enum):
        name = f"{name}[{', '.join(repr(v) for v in trait.values)}]"
    if getattr(trait, "allow_none", False):
        name += " or None"
    return name


def metavar(trait):
    """How a value is spelled after an alias: ``KEY=VALUE`` for dicts, repeatable lists."""
    if isinstance(trait, Dict):
        return "KEY=VALUE` (repeatable)"
    if isinstance(trait, Container):
        return "VALUE` (repeatable)"
    return "VALUE`"


def has_dynamic_default(cls, name):
    """True when the default is computed per instance (``@default`` or ``_name_default``)."""
    for klass in cls.__mro__:
        if name in vars(klass).get("_trait_default_generators", {}):
            return True
        if f"_{name}_default" in vars(klass):
            return True
    return False


def default_text(cls, name, trait):
    if has_dynamic_default(cls, name):
        return "computed when the program starts (see below)"
    try:
        value = trait.default()
    except Exception:  # noqa: BLE001 - a default that needs an instance
        return "computed when the program starts (see below)"
    if type(value).__module__.startswith("traitlets"):  # Undefined, Sentinel
        return "none"
    return f"`{value!r}`"


def _names(key):
    keys = key if isinstance(key, tuple) else (key,)
    return [f"-{k}" if len(k) == 1 else f"--{k}" for k in keys]


def cli_text(cls, name, trait, notes):
    """Command-line spellings of ``cls.name`` from ``cls.aliases`` and ``cls.flags``."""
    targets = {f"{klass.__name__}.{name}" for klass in cls.__mro__}
    out = []
    for key, dest in getattr(cls, "aliases", {}).items():
        dest = dest[0] if isinstance(dest, tuple) else dest
        if dest in targets:
            out += [f"`{n} {metavar(trait)}" for n in _names(key)]
    for key, spec in getattr(cls, "flags", {}).items():
        conf = spec[0] if isinstance(spec, tuple) else spec
        for section, values in dict(conf).items():
            if f"{section}.{name}" in targets and name in values:
                out += [f"`{n}` (sets `{values[name]!r}`)" for n in _names(key)]
    note = notes.get(f"{cls.__name__}.{name}")
    if note:
        out.append(note)
    return ", ".join(out)


def help_text(cls, name, trait):
    text = inspect.cleandoc(trait.help or "")
    if not text.strip():
        raise ExtensionError(
            f"config reference: {cls.__name__}.{name} has no help text; "
            f"add help= to the trait (what it does, its default, an example)"
        )
    return rst_to_myst(text)


_DIRECTIVE = re.compile(r"^\.\. (?:code-block|code|sourcecode)::\s*(\S*)\s*$")


def rst_to_myst(text):
    """Turn the RST literal blocks traitlets help uses (``::``, ``.. code-block::``) into fences."""
    lines = text.splitlines()
    out = []
    i = 0
    while i < len(lines):
        line = lines[i]
        match = _DIRECTIVE.match(line.strip())
        lang = None
        if match:
            lang = match.group(1) or "text"
        elif line.rstrip().endswith("::"):
            stripped = line.rstrip()[:-2].rstrip()
            if stripped:
                out.append(stripped + ":")
            lang = "python"
        if lang is None:
            out.append(line)
            i += 1
            continue
        i += 1
        block = []
        while i < len(lines) and (not lines[i].strip() or lines[i][:1].isspace()):
            block.append(lines[i])
            i += 1
        while block and not block[-1].strip():
            block.pop()
        while block and not block[0].strip():
            block.pop(0)
        body = inspect.cleandoc("\n".join(block)) if block else ""
        out += ["", f"```{lang}", body, "```", ""]
    return "\n".join(out).strip()


# ---- one class ------------------------------------------------------------------------


def first_paragraph(cls):
    doc = inspect.getdoc(cls) or ""
    return doc.split("\n\n")[0].replace("\n", " ").strip()


def render_options(cls, notes):
    """The page of a configurable class: one section per config trait."""
    everything = cls.class_traits(config=True)
    if issubclass(cls, Application):
        own = everything
        inherited_from = []
    else:
        home = own_package(cls)
        own = {n: t for n, t in everything.items() if own_package(t.this_class) == home}
        inherited_from = [
            f"{k.__module__}.{k.__name__}"
            for k in cls.__mro__[1:]
            if own_package(k) not in (home, "traitlets", "builtins")
        ]
    lines = [f"# `{cls.__name__}`", "", first_paragraph(cls), ""]
    if inherited_from:
        lines += [
            f"Below are the options jhembed defines. `{cls.__name__}` also takes every "
            f"option of `{inherited_from[0]}`, documented by its project.",
            "",
        ]
    mine = [n for n in sorted(own) if own_package(own[n].this_class) == own_package(cls)]
    others = [n for n in sorted(own) if n not in mine]
    for name in mine:
        lines += _section(cls, name, own[name], notes)
    if others:
        lines += [
            "## Inherited options",
            "",
            f"`{cls.__name__}` is a traitlets application: these options of its base",
            "classes are accepted too.",
            "",
        ]
        for name in others:
            lines += _section(cls, name, own[name], notes, level="###")
    return "\n".join(lines).rstrip() + "\n"


def _section(cls, name, trait, notes, level="##"):
    lines = [f"{level} `c.{cls.__name__}.{name}`", ""]
    lines.append(f"- type: `{type_name(trait)}`")
    lines.append(f"- default: {default_text(cls, name, trait)}")
    cli = cli_text(cls, name, trait, notes)
    if cli:
        lines.append(f"- command line: {cli}")
    lines += ["", help_text(cls, name, trait), ""]
    return lines


def render_fields(cls, intro):
    """The page of a plain HasTraits record (no config traits): its fields."""
    lines = [f"# `{cls.__name__}`", "", intro or first_paragraph(cls), ""]
    traits = cls.class_traits()
    for name in sorted(traits):
        trait = traits[name]
        lines += [
            f"## `{name}`",
            "",
            f"- type: `{type_name(trait)}`",
            f"- default: {default_text(cls, name, trait)}",
            "",
            help_text(cls, name, trait),
            "",
        ]
    return "\n".join(lines).rstrip() + "\n"


def render(cls, config):
    intros = config.jhembed_config_intros
    if cls.class_traits(config=True):
        text = render_options(cls, config.jhembed_config_cli_notes)
        intro = intros.get(cls.__name__)
        if intro:
            head, _, rest = text.partition("\n\n")
            text = f"{head}\n\n{intro}\n\n{rest}"
        return text
    return render_fields(cls, intros.get(cls.__name__))


# ---- Sphinx hooks -------------------------------------------------------------------------


def _write(path, text):
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def generate(app):
    out = Path(app.srcdir) / GENERATED
    out.mkdir(parents=True, exist_ok=True)
    pages = []
    for path in app.config.jhembed_config_classes:
        cls = load_class(path)
        if cls is None:
            continue
        _write(out / f"{cls.__name__}.md", render(cls, app.config))
        pages.append(cls.__name__)
    for stale in out.glob("*.md"):
        if stale.stem not in pages:
            stale.unlink()
    app.env.jhembed_config_pages = pages  # for the toctree in reference/config.md


def fill_toctree(app, docname, source):
    """Replace ``generated/*`` in the reference index by the pages, in configured order."""
    if docname != INDEX_DOC:
        return
    pages = getattr(app.env, "jhembed_config_pages", None)
    if pages is None:
        return
    listing = "\n".join(f"generated/{p}" for p in pages)
    source[0] = re.sub(rf"^{re.escape(GLOB_LINE)}$", listing, source[0], flags=re.M)


def reread_index(app, env, added, changed, removed):
    """The index lists whichever classes imported this time: always read it again."""
    return [INDEX_DOC] if INDEX_DOC in env.found_docs else []


def setup(app):
    app.add_config_value("jhembed_config_classes", [], "env")
    app.add_config_value("jhembed_config_intros", {}, "env")
    app.add_config_value("jhembed_config_cli_notes", {}, "env")
    app.connect("builder-inited", generate)
    app.connect("source-read", fill_toctree)
    app.connect("env-get-outdated", reread_index)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "2"}
