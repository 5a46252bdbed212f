"""Command-line errors: one clear line, a non-zero exit, nothing started."""

import json
import socket
import sys

import aiohttp
import pytest
from proxyutil import TESTAPP, run_cli, run_proxy

from jhembed.proxy.app import EmbedProxy
from jhembed.proxy.runtime import NO_FAST_PATH_DEPRECATED

NOAUTH = ["--no-authentication"]


def one_line_error(stderr):
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("jupyter-embedproxy: error: "), stderr
    return lines[0]


@pytest.mark.parametrize(
    "args, words",
    [
        (["--no-such-flag", "--", "true"], ["unknown option", "--no-such-flag"]),
        (NOAUTH, ["no command given", "--"]),
        (
            NOAUTH + ["--", "surely-not-a-command-xyz"],
            ["command not found", "surely-not-a-command-xyz"],
        ),
        (
            NOAUTH + ["--frame-ancestors", "not an origin", "--", "true"],
            ["frame_ancestors", "not a valid origin"],
        ),
        (NOAUTH + ["--cors-origins", "https://x.example/path", "--", "true"], ["cors_origins"]),
        (NOAUTH + ["--cookie-samesite", "sometimes", "--", "true"], ["cookie_samesite"]),
        (["--", "true"], ["JUPYTERHUB_API_TOKEN", "--no-authentication"]),
        (NOAUTH + ["--port", "70000", "--", "true"], ["port"]),
        (
            NOAUTH
            + [
                "--keyfile",
                "/nonexistent/key.pem",
                "--certfile",
                "/nonexistent/c.pem",
                "--",
                "true",
            ],
            ["JUPYTERHUB_SSL_KEYFILE", "/nonexistent/key.pem"],
        ),
        (NOAUTH + ["--activity-exclude-paths", "([", "--", "true"], ["activity_exclude_paths"]),
        (
            NOAUTH + ["--server-proxy-entry-point", "no-such-app-xyz"],
            ["no jupyter_serverproxy_servers entry point named 'no-such-app-xyz'", "install"],
        ),
        (
            NOAUTH + ["--StandaloneProxyServer.base_url=/x/", "--", "true"],
            ["unknown option '--StandaloneProxyServer.base_url'", "no StandaloneProxyServer"],
        ),
        (
            NOAUTH + ["--ServerProcess.timeout=5", "--", "true"],
            ["unknown option '--ServerProcess.timeout'"],
        ),
        (
            NOAUTH + ["--server-proxy-entry-point", "x", "--", "true"],
            ["either --server-proxy-entry-point x or a command after --"],
        ),
    ],
)
def test_bad_command_lines(args, words):
    code, _, err = run_cli(*args, env={"JUPYTERHUB_API_TOKEN": ""})
    assert code == 2, err
    line = one_line_error(err)
    for word in words:
        assert word in line, line


def test_port_in_use():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        code, _, err = run_cli(
            *NOAUTH, "--address", "127.0.0.1", "--port", str(port), "--", *TESTAPP
        )
    assert code == 2
    line = one_line_error(err)
    assert f"port {port}" in line and "already in use" in line


def test_missing_hub_client_id():
    code, _, err = run_cli(
        "--", "true", env={"JUPYTERHUB_API_TOKEN": "x", "JUPYTERHUB_CLIENT_ID": ""}
    )
    assert code == 2
    assert "JUPYTERHUB_CLIENT_ID" in one_line_error(err)


def test_help_all_lists_every_option():
    code, out, _ = run_cli("--help-all")
    assert code == 0
    for flag in (
        "--frame-ancestors",
        "--allow-token-login",
        "--destport",
        "--server-port",
        "--timeout",
    ):
        assert flag in out


def test_generate_config_has_every_trait(tmp_path):
    code, out, err = run_cli("--generate-config", "-y", env={"JUPYTER_CONFIG_DIR": str(tmp_path)})
    assert code == 0, err
    text = (tmp_path / "jupyter_embedproxy_config.py").read_text()
    for name in EmbedProxy.class_own_traits(config=True):
        assert f"c.EmbedProxy.{name}" in text, name


def test_every_option_group_trait_is_an_own_option_of_embedproxy():
    """The loops over class_own_traits here and in test_docs see every option."""
    from jhembed.proxy.options_app import AppOptions
    from jhembed.proxy.options_http import HttpOptions

    groups = {*AppOptions.class_traits(config=True), *HttpOptions.class_traits(config=True)}
    assert len(groups) > 30
    assert set(EmbedProxy.class_own_traits(config=True)) == groups
    for bad in ("--AppOptions.port=9", "--HttpOptions.bridge=True"):
        code, _, err = run_cli(*NOAUTH, bad, "--", sys.executable)
        assert code == 2 and "has no" in one_line_error(err), err


def test_peer_flags_are_accepted():
    """Flags of jupyter standaloneproxy and jhsingle-native-proxy parse with the same meaning."""
    app = EmbedProxy()
    app.initialize(
        [
            "--no-authentication",
            "--address", "127.0.0.2",
            "--port", "9999",
            "--server-port", "7777",
            "--base-url", "/user/x/",
            "--absolute-url",
            "--timeout", "12",
            "--environment", "FOO=bar",
            "--activity-interval", "60",
            "--websocket-max-message-size", "1000",
            "--request-headers-override", "X-A=b",
            "--ready-check-path", "/health",
            "--request-timeout", "9",
            "--", sys.executable, "-c", "pass",
        ]
    )  # fmt: skip
    assert (app.address, app.port, app.server_port) == ("127.0.0.2", 9999, 7777)
    assert app.base_url == "/user/x/" and app.absolute_url
    assert app.timeout == 12 and app.environment == {"FOO": "bar"}
    assert app.activity_interval == 60 and app.websocket_max_message_size == 1000
    assert app.request_headers_override == {"X-A": "b"}
    assert app.ready_check_path == "/health" and app.request_timeout == 9
    jh = EmbedProxy()
    jh.initialize(["--no-authentication", "--ip", "127.0.0.3", "--destport", "5555",
                   "--ready-timeout", "7", "--", sys.executable])  # fmt: skip
    assert (jh.address, jh.server_port, jh.timeout) == ("127.0.0.3", 5555, 7)


def test_defaults_from_the_hub_environment(monkeypatch):
    monkeypatch.setenv("JUPYTERHUB_SERVICE_URL", "http://127.0.0.4:8123/user/ann/lab/")
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/ann/lab/")
    app = EmbedProxy()
    app.initialize(["--no-authentication", "--", sys.executable])
    assert (app.address, app.port, app.base_url) == ("127.0.0.4", 8123, "/user/ann/lab/")


async def test_no_fast_path_is_a_deprecated_no_op():
    """``--no-fast-path`` is accepted, logs one deprecation line, and changes nothing."""
    prefix = "/user/x/"
    seen = {}
    for args in ((), ("--no-fast-path",)):
        async with run_proxy(*args, base_url=prefix) as p:
            root = f"http://127.0.0.1:{p.port}"
            got = []
            async with aiohttp.ClientSession() as s:
                for method, url in (
                    ("GET", p.url + "echo?a=1"),
                    ("HEAD", p.url + "echo"),
                    ("GET", root + "/other"),
                    ("GET", root + "/user/x"),
                ):
                    async with s.request(method, url, allow_redirects=False) as r:
                        body = await r.read()
                        if r.status == 200 and method == "GET":
                            echo = json.loads(body)
                            body = (echo["method"], echo["path"], echo["query"])
                        got.append((r.status, r.headers.get("Location"), body))
            seen[args] = got
            output = p.output()
        assert output.count(NO_FAST_PATH_DEPRECATED) == (1 if args else 0), output
    assert seen[()][0] == (200, None, ("GET", "/echo", "a=1"))
    assert seen[()][2][0] == 404 and seen[()][3][:2] == (301, prefix)
    assert seen[("--no-fast-path",)] == seen[()]
