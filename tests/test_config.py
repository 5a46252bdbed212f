"""Checking the catalog before a Hub runs: jhembed.configure, jhembed check-config, no import hacks."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from docutil import run_jhembed
from fakedist import server_proxy_package
from traitlets import TraitError
from traitlets.config import Config

import jhembed
from jhembed.apps import CatalogError
from jhembed.config import check
from jhembed.spawner import SimpleEmbedSpawner

ROOT = Path(__file__).resolve().parents[1]


def _python(code, **kwargs):
    """Run ``code`` in a fresh interpreter that imports this checkout's jhembed."""
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    )
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        **kwargs,
    )


# -- importing has no side effects ------------------------------------------------------------


def test_importing_the_spawner_changes_nothing():
    result = _python(
        """
        import sys
        from jupyterhub.app import JupyterHub
        from traitlets.config import Application, Configurable, loader

        CLASSES = (JupyterHub, Application, Configurable, loader.PyFileConfigLoader, loader.Config)

        def snapshot():
            return {cls: dict(vars(cls)) for cls in CLASSES}

        # a Hub being configured with a broken catalog, as when JupyterHub imports its spawner
        hub = JupyterHub.instance()
        hub.config.EmbedSpawner.apps = {"broken": {"command": ["x", "{what}"]}}
        before, hooks = snapshot(), (sys.getprofile(), sys.gettrace())

        import jhembed.spawner

        assert snapshot() == before, "importing jhembed.spawner patched a class"
        assert (sys.getprofile(), sys.gettrace()) == hooks, "importing installed a hook"
        # nothing watches the Hub: choosing the spawner checks nothing behind the Hub's back
        hub.spawner_class = "embed"
        assert hub.spawner_class is jhembed.spawner.EmbedSpawner
        print("untouched")
        """
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "untouched"


def test_importing_jhembed_is_light_and_makes_no_hub():
    result = _python(
        """
        import sys
        import jhembed
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("jupyterhub", "tornado", "jinja2", "traitlets", "aiohttp"))
        assert not heavy, heavy
        import jhembed.spawner
        from jupyterhub.app import JupyterHub
        assert not JupyterHub.initialized(), "importing the spawner created a JupyterHub"
        print("light")
        """
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "light"


def test_no_frame_walking_in_jhembed():
    offenders = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in sorted((ROOT / "jhembed").rglob("*.py"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if "_getframe" in line or "f_locals" in line or "f_back" in line
    ]
    assert not offenders, offenders


# -- jhembed.configure ------------------------------------------------------------------------


def test_configure_sets_the_spawner_and_the_catalog():
    c = Config()
    result = jhembed.configure(
        c,
        apps={"dashboard": "voila", "lab": "jupyterlab"},
        frame_ancestors=["'self'", "https://host.example.com"],
        default_app="lab",
    )
    assert result is None
    assert c.JupyterHub.spawner_class == "embed"
    assert c.EmbedSpawner.apps == {"dashboard": "voila", "lab": "jupyterlab"}
    assert c.EmbedSpawner.frame_ancestors == ["'self'", "https://host.example.com"]
    assert c.EmbedSpawner.default_app == "lab"
    # the spawner sees exactly that configuration
    spawner = SimpleEmbedSpawner(config=c)
    assert list(spawner.catalog) == ["dashboard", "lab"]
    assert spawner.frame_ancestors == ["'self'", "https://host.example.com"]


def test_configure_another_composition():
    c = Config()
    jhembed.configure(c, apps={"lab": "jupyterlab"}, spawner="embed-kubernetes")
    assert c.JupyterHub.spawner_class == "embed-kubernetes"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"apps": {"x": {"command": ["x", "{what}"]}}}, "c.EmbedSpawner.apps['x'].command: unknown placeholder {what}"),
        ({"apps": {"x": {"preset": "emacs"}}}, "c.EmbedSpawner.apps['x'].preset"),
        ({"apps": {"Bad Name": "voila"}}, "c.EmbedSpawner.apps['Bad Name']"),
        ({"apps": {}}, "c.EmbedSpawner.apps is empty"),
        ({"apps": {"x": "voila"}, "frame_ancestors": ["nope"]}, "c.EmbedSpawner.frame_ancestors: 'nope'"),
        ({"apps": {"x": "voila"}, "default_app": "y"}, "c.EmbedSpawner.default_app: 'y' is not in the catalog"),
        ({"apps": {"x": "voila"}, "colour": "red"}, "c.EmbedSpawner.colour is not an EmbedSpawner option"),
        ({"apps": {"x": "voila"}, "spawner": "simple"}, "c.JupyterHub.spawner_class = 'simple' is not an EmbedSpawner"),
    ],
)  # fmt: skip
def test_configure_raises_naming_the_setting(kwargs, message):
    with pytest.raises(TraitError) as e:
        jhembed.configure(Config(), **kwargs)
    assert str(e.value).startswith(message), str(e.value)


def test_check_names_the_composition_section():
    c = Config()
    c.JupyterHub.spawner_class = "embed-kubernetes"
    c.EmbedSpawner.apps = {"lab": "jupyterlab"}
    c.EmbedKubeSpawner.apps = {"x": {"command": []}}  # wins, as in the spawner
    with pytest.raises(CatalogError, match=r"^c\.EmbedKubeSpawner\.apps\['x'\]\.command"):
        check(c)
    c.EmbedKubeSpawner.apps = {"dash": "voila"}
    assert list(check(c)) == ["dash"]


def test_the_spawner_still_checks_at_first_use():
    """Set without configure(), a bad catalog fails the first use, naming the field."""
    spawner = SimpleEmbedSpawner(apps={"x": {"command": ["x", "{what}"]}})
    with pytest.raises(CatalogError, match=r"c\.EmbedSpawner\.apps\['x'\]\.command"):
        spawner.validate_user_options({"app": "x"})
    spawner = SimpleEmbedSpawner(apps={"x": "voila"}, default_app="nope")
    with pytest.raises(CatalogError, match=r"c\.EmbedSpawner\.default_app"):
        spawner.catalog  # noqa: B018


def test_the_options_form_environment_is_built_once(tmp_path):
    own = tmp_path / "templates"
    own.mkdir()
    (own / "options_form.html").write_text("mine: {{ apps | length }} {{ selected }}")
    apps = {"a": "voila", "b": "jupyterlab"}
    first, second = SimpleEmbedSpawner(apps=apps), SimpleEmbedSpawner(apps=apps)
    assert 'name="app"' in first._render_options_form()
    from jhembed.spawner import _form_environment

    hits = _form_environment.cache_info().hits
    second._render_options_form()
    assert _form_environment.cache_info().hits == hits + 1
    mine = SimpleEmbedSpawner(apps=apps, options_form_template_dir=str(own))
    assert mine._render_options_form() == "mine: 2 a"


# -- jhembed check-config -----------------------------------------------------------------------


def test_check_config_good(tmp_path):
    (tmp_path / "jupyterhub_config.py").write_text(
        "import jhembed\n"
        "c.JupyterHub.port = 8765\n"
        'jhembed.configure(c, apps={"dashboard": "voila", "lab": "jupyterlab"})\n'
    )
    result = run_jhembed("check-config", str(tmp_path / "jupyterhub_config.py"))
    assert (result.returncode, result.stdout, result.stderr) == (
        0,
        "OK: 2 apps (dashboard, lab)\n",
        "",
    )
    # the default file name, as jupyterhub's
    result = run_jhembed("check-config", cwd=tmp_path)
    assert (result.returncode, result.stdout) == (0, "OK: 2 apps (dashboard, lab)\n")


def test_check_config_without_configure(tmp_path):
    """The plain ``c.JupyterHub.spawner_class = "embed"`` way, checked the same."""
    path = tmp_path / "jupyterhub_config.py"
    path.write_text(
        'c.JupyterHub.spawner_class = "embed"\nc.EmbedSpawner.apps = {"lab": "jupyterlab"}\n'
    )
    result = run_jhembed("check-config", str(path))
    assert (result.returncode, result.stdout) == (0, "OK: 1 app (lab)\n"), result.stderr
    path.write_text(
        'c.JupyterHub.spawner_class = "embed"\n'
        'c.EmbedSpawner.apps = {"lab": "jupyterlab", "x": {"command": ["a"], "colour": "red"}}\n'
    )
    result = run_jhembed("check-config", str(path))
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith(f"{path}: c.EmbedSpawner.apps['x'].colour"), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


@pytest.mark.parametrize(
    "text, message",
    [
        ('import jhembed\njhembed.configure(c, apps={"x": {"command": ["x", "{what}"]}})\n',
         "c.EmbedSpawner.apps['x'].command: unknown placeholder {what}"),
        ('c.JupyterHub.spawner_class = "simple"\n',
         "c.JupyterHub.spawner_class = 'simple' is not an EmbedSpawner"),
        ('c.EmbedSpawner.apps = {"lab": "jupyterlab"}\n', "c.JupyterHub.spawner_class is not set"),
    ],
)  # fmt: skip
def test_check_config_bad(tmp_path, text, message):
    path = tmp_path / "jupyterhub_config.py"
    path.write_text(text)
    result = run_jhembed("check-config", str(path))
    assert (result.returncode, result.stdout) == (1, ""), result.stderr
    assert result.stderr == f"{path}: {message}" + result.stderr.split(message, 1)[1]
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_check_config_a_file_that_raises(tmp_path):
    path = tmp_path / "jupyterhub_config.py"
    path.write_text("c.JupyterHub.port = undefined_name\n")
    result = run_jhembed("check-config", str(path))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"{path}: the file raised NameError: name 'undefined_name' is not defined"
    )


def test_check_config_usage_errors(tmp_path):
    result = run_jhembed("check-config", str(tmp_path / "nope.py"))
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == f"jhembed check-config: error: {tmp_path / 'nope.py'}: no such file\n"
    result = run_jhembed()
    assert result.returncode == 2 and "usage: jhembed" in result.stderr
    result = run_jhembed("frobnicate")
    assert result.returncode == 2 and "invalid choice: 'frobnicate'" in result.stderr


def test_the_command_is_installed():
    scripts = (ROOT / "pyproject.toml").read_text().split("[project.scripts]\n", 1)[1]
    assert 'jhembed = "jhembed.cli:main"' in scripts.split("\n\n", 1)[0]


def test_entry_points_are_listed_and_broken_ones_logged_at_configure(tmp_path, monkeypatch, caplog):
    """The Hub lists entry points without running their apps; an unimportable one is
    skipped with its reason when the config loads (jhembed.configure), not at first spawn."""
    site = server_proxy_package(
        tmp_path / "site",
        "eps_ok",
        "import os\n"
        "def needs_server():\n"
        "    return {'command': ['x', os.environ['JUPYTERHUB_SERVICE_PREFIX']]}\n"
        "def titled():\n"
        "    return {'command': lambda port: 1 / 0, 'launcher_entry': {'title': 'Titled app'}}\n",
        {
            "inserver": "eps_ok:needs_server",
            "titled": "eps_ok:titled",
            "broken": "eps_missing_module:setup",
        },
    )
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delenv("JUPYTERHUB_SERVICE_PREFIX", raising=False)
    c = Config()
    with caplog.at_level("INFO", logger="jhembed"):
        jhembed.configure(c, apps={"files": "http-server"})
    catalog = check(c)
    assert set(catalog) == {"files", "inserver", "titled"}
    assert catalog["titled"].label == "Titled app" and catalog["titled"].entry_point == "titled"
    assert catalog["inserver"].label == "inserver" and catalog["inserver"].command == []
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any(
        "'broken'" in w and "cannot be imported" in w and "ModuleNotFoundError" in w
        for w in warnings
    ), warnings
    infos = [r.getMessage() for r in caplog.records if r.levelname == "INFO"]
    assert any("'inserver'" in i and "in the user's server" in i for i in infos), infos
    # the spawner asks the server to resolve it
    from jhembed.spawner import EmbedSpawner

    flags = EmbedSpawner(config=c).proxy_flags(catalog["inserver"])
    assert flags[:4] == ["--app-name", "inserver", "--server-proxy-entry-point", "inserver"]
