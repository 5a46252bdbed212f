"""The docs build with warnings as errors, and the generated reference documents every option."""

import http.client
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from docutil import blocks, run_jhembed
from sphinx.errors import ExtensionError
from traitlets import Bool, HasTraits, Int

from jhembed.proxy.app import EmbedProxy

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
sys.path.insert(0, str(DOCS / "_ext"))

import jhembed_config_ref  # noqa: E402


def test_every_proxy_option_has_help():
    for name, trait in EmbedProxy.class_traits(config=True).items():
        assert (trait.help or "").strip(), f"EmbedProxy.{name} has no help"


def test_every_proxy_option_has_a_command_line_spelling():
    aliased = set(EmbedProxy.aliases.values())
    flagged = {
        f"EmbedProxy.{name}"
        for conf, _ in EmbedProxy.flags.values()
        for name in conf.get("EmbedProxy", {})
    }
    for name in EmbedProxy.class_own_traits(config=True):
        if name != "command":  # the arguments after --
            assert f"EmbedProxy.{name}" in aliased | flagged, f"EmbedProxy.{name} has no CLI option"


def test_a_trait_without_help_stops_the_build():
    class Thing(HasTraits):
        documented = Int(1, help="Documented.").tag(config=True)
        undocumented = Bool(False).tag(config=True)

    with pytest.raises(ExtensionError, match=r"Thing\.undocumented"):
        jhembed_config_ref.render_fields(Thing, None)


def test_a_missing_module_is_skipped_without_a_warning(caplog):
    assert jhembed_config_ref.load_class("jhembed.not_written_yet:Later") is None
    assert jhembed_config_ref.load_class("jhembed.proxy.app:NotThereYet") is None
    assert not [r for r in caplog.records if r.levelname in ("WARNING", "ERROR")]


def test_rst_literal_blocks_become_fences():
    text = "Example::\n\n    c.X.y = 1\n\nAfter.\n\n.. code-block:: python\n\n   a = 2\n"
    assert jhembed_config_ref.rst_to_myst(text) == (
        "Example:\n\n```python\nc.X.y = 1\n```\n\nAfter.\n\n\n```python\na = 2\n```"
    )


def test_environment_dependent_defaults_are_not_shown(monkeypatch):
    monkeypatch.setenv("JUPYTERHUB_SERVICE_URL", "http://10.1.2.3:4567")
    page = jhembed_config_ref.render(EmbedProxy, _Conf())
    assert "10.1.2.3" not in page and "4567" not in page
    assert "computed when the program starts" in page


class _Conf:
    jhembed_config_intros = {}
    jhembed_config_cli_notes = {}


def test_docs_build_with_warnings_as_errors(tmp_path):
    out = tmp_path / "html"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-W",
            "--keep-going",
            "-q",
            "-b",
            "html",
            str(DOCS),
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    reference = (DOCS / "reference" / "generated" / "EmbedProxy.md").read_text()
    for name in EmbedProxy.class_traits(config=True):
        assert f"`c.EmbedProxy.{name}`" in reference, (
            f"EmbedProxy.{name} missing from the reference"
        )
    html = (out / "reference" / "generated" / "EmbedProxy.html").read_text()
    for name in EmbedProxy.class_traits(config=True):
        assert f"c.EmbedProxy.{name}" in html
    index = (out / "reference" / "config.html").read_text()
    assert "generated/EmbedProxy.html" in index


def _table(doc, heading_cell):
    """Rows (lists of cells) of the markdown table whose header row starts with ``heading_cell``."""
    lines = doc.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {heading_cell} |"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def _flags(cell):
    return re.findall(r"`(--[\w-]+)", cell)


def test_proxy_page_flag_tables_match_the_programs():
    from jupyter_server_proxy.standalone.app import StandaloneProxyServer

    ours = set(EmbedProxy.aliases) | set(EmbedProxy.flags)
    sp = StandaloneProxyServer()
    standalone = set(sp.aliases) | set(sp.flags)
    doc = (DOCS / "proxy.md").read_text()
    accepted = _table(doc, "`jupyter standaloneproxy`")
    assert len(accepted) > 10
    for theirs, _native, here, _difference in accepted:
        for flag in _flags(theirs):
            assert flag[2:] in standalone, f"standaloneproxy has no {flag}"
        for flag in _flags(here):
            assert flag[2:] in ours, f"jupyter-embedproxy has no {flag}"
    refused = _table(doc, "flag")
    assert len(refused) > 5
    for flags, program, instead in refused:
        for flag in _flags(flags):
            assert flag[2:] not in ours, f"{flag} is accepted, yet the docs say it is not"
            if "standaloneproxy" in program:
                assert flag[2:] in standalone, f"standaloneproxy has no {flag}"
        for flag in _flags(instead):
            assert flag[2:] in ours, f"jupyter-embedproxy has no {flag}"


def test_every_option_named_in_the_docs_exists():
    from jupyterhub.app import JupyterHub
    from jupyterhub.spawner import Spawner

    from jhembed.spawner import EmbedSpawner

    classes = {c.__name__: c for c in (EmbedProxy, EmbedSpawner, JupyterHub, Spawner)}
    for page in sorted(DOCS.rglob("*.md")):
        if "_build" in page.parts or "generated" in page.parts:
            continue
        for cls, name in re.findall(r"\bc\.(\w+)\.(\w+)", page.read_text()):
            if (cls, name) == ("Class", "option"):  # the generic spelling in reference/config.md
                continue
            assert cls in classes, f"{page.name}: c.{cls}.{name}: unknown class"
            assert name in classes[cls].class_traits(config=True), (
                f"{page.name}: c.{cls}.{name} is not an option"
            )


# ---- the examples of embedding.md, run for real -------------------------------------------


def _commands(block):
    """Shell lines of a bash block, continuation lines joined."""
    return [shlex.split(c) for c in block.replace("\\\n", " ").splitlines() if c.strip()]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def _proxy(argv):
    """Run a documented ``jupyter-embedproxy`` command line on a free port; yields the port."""
    port = _free_port()
    argv = list(argv)
    argv[argv.index("--port") + 1] = str(port)
    argv[0] = str(Path(sys.executable).parent / argv[0])
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    proc = subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, proc.stdout.read().decode()
            try:
                if _request(port, "GET", argv[argv.index("--base-url") + 1])[0] != 503:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the proxy did not get ready"
            time.sleep(0.1)
        yield port
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)
        proc.stdout.close()


def _request(port, method, path, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, headers=headers or {})
        response = conn.getresponse()
        response.read()
        lines = [f"HTTP/1.1 {response.status} {response.reason}"]
        lines += [f"{name}: {value}" for name, value in response.getheaders()]
        return response.status, lines
    finally:
        conn.close()


def _curl(port, argv):
    """The request a documented ``curl`` line makes, against ``port``."""
    url = next(a for a in argv if a.startswith("http://"))
    path = url.split("8888", 1)[1]
    method = "HEAD" if "-I" in argv else "GET"
    headers = {}
    for i, arg in enumerate(argv):
        if arg == "-X":
            method = argv[i + 1]
        if arg == "-H":
            name, value = argv[i + 1].split(":", 1)
            headers[name] = value.strip()
    return _request(port, method, path, headers)[1]


def test_embedding_examples_give_the_documented_headers():
    doc = (DOCS / "embedding.md").read_text()
    page = [(lang, b) for lang, b in blocks(doc) if lang != "python"]  # the config snippets aside
    run, get_out, preflight, preflight_out, app_sends, browser_gets = (b for _, b in page[:6])
    start, curl_head = _commands(run)
    assert start[0] == "jupyter-embedproxy" and curl_head[0] == "curl"
    with _proxy(start) as port:
        got = _curl(port, curl_head)
        for line in get_out.splitlines():
            assert line in got, f"{line!r} not in {got}"
        assert not [h for h in got if h.lower().startswith("x-frame-options")]
        got = _curl(port, _commands(preflight)[0])
        for line in preflight_out.splitlines():
            assert line in got, f"{line!r} not in {got}"

    # the same policy in front of an app that sends Jupyter-like headers (tests/testapp.py /headers)
    testapp = ROOT / "tests" / "testapp.py"
    source = testapp.read_text()
    for line in app_sends.splitlines():
        name, value = line.split(": ", 1)
        assert name in source and value in source, f"tests/testapp.py does not send {line!r}"
    argv = start[
        : start.index("--") + 1
    ]  # the documented command: cookies are Partitioned by default
    argv += ["python", str(testapp), "--port", "{port}"]
    with _proxy(argv) as port:
        got = _request(port, "GET", "/user/alice/headers")[1]
        for line in browser_gets.splitlines():
            assert line in got, f"{line!r} not in {got}"
        assert not [h for h in got if h.lower().startswith(("x-frame-options", "access-control"))]


# ---- the jupyterhub_config.py examples of README.md and spawner.md, checked for real ----------


def _check_config(tmp_path, config):
    """``jhembed check-config jupyterhub_config.py`` in a directory holding ``config``."""
    (tmp_path / "jupyterhub_config.py").write_text(config)
    return run_jhembed("check-config", "jupyterhub_config.py", cwd=tmp_path)


def _loaded(tmp_path):
    """The config JupyterHub would load from ``tmp_path/jupyterhub_config.py``."""
    from traitlets.config.loader import PyFileConfigLoader

    return PyFileConfigLoader("jupyterhub_config.py", path=str(tmp_path)).load_config()


def test_readme_spawner_example_runs(tmp_path):
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Using EmbedSpawner\n", 1)[1].split("\n## ", 1)[0]
    (lang, config), (_, command), (_, output) = blocks(section)[:3]
    assert lang == "python" and "jhembed.configure(" in config
    assert _commands(command) == [["jhembed", "check-config", "jupyterhub_config.py"]]
    result = _check_config(tmp_path, config)
    assert (result.returncode, result.stdout, result.stderr) == (0, output, "")
    c = _loaded(tmp_path)
    assert c.JupyterHub.spawner_class == "embed"
    assert c.EmbedSpawner.frame_ancestors == ["'self'", "https://portal.example.com"]


def test_spawner_page_examples_run(tmp_path):
    doc = (DOCS / "spawner.md").read_text()
    lang, config = blocks(doc)[0]
    assert lang == "python" and "jhembed.configure(" in config
    section = doc.split("## Checking the catalog\n", 1)[1].split("\n## ", 1)[0]
    (_, hub_log), (_, command), (_, output) = blocks(section)[:3]
    assert _commands(command) == [["jhembed", "check-config", "jupyterhub_config.py"]]
    result = _check_config(tmp_path, config)
    assert (result.returncode, result.stdout, result.stderr) == (0, output, "")
    assert _loaded(tmp_path).JupyterHub.spawner_class == "embed"
    # the documented mistake gives the documented message (the Hub logs the same text,
    # see test_spawner.py::test_bad_catalog_stops_the_hub)
    message = hub_log.strip().split("Bad config encountered during initialization: ", 1)[1]
    assert message.split(":", 1)[0] in section  # the text quotes the message too
    result = _check_config(tmp_path, config.replace("reports/{week}", "reports/{weak}"))
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == f"jupyterhub_config.py: {message}\n"
