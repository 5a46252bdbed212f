"""EmbedSpawnerMixin on KubeSpawner and DockerSpawner: the generated pod spec / container command.

No cluster and no Docker engine here: the tests build what would be sent to
them (KubeSpawner with its own ``_mock`` switch and a kubeconfig pointing
nowhere; DockerSpawner's command and environment), which is what the mixin
changes.
"""

import pytest
from traitlets.config import Config

APPS = {
    "dash": {
        "preset": "voila",
        "frame_ancestors": ["https://host.example"],
        "environment": {"APP_FLAVOUR": "dashboard"},
        "allow_token_login": True,
    }
}
KUBECONFIG = """
apiVersion: v1
kind: Config
clusters: [{name: none, cluster: {server: "https://127.0.0.1:9"}}]
users: [{name: none, user: {token: none}}]
contexts: [{name: none, context: {cluster: none, user: none}}]
current-context: none
"""


def config():
    c = Config()
    c.EmbedSpawner.apps = APPS
    return c


def expected_argv():
    return [
        "jupyter-embedproxy",
        "--app-name", "dash",
        "--ready-check-path", "/",
        "--timeout", "60",
        "--frame-ancestors", "https://host.example",
        "--allow-token-login",
        "--",
        "voila", "--port={port}", "--no-browser", "--Voila.ip=127.0.0.1",
        "--Voila.base_url={base_url}", "--Voila.server_url=/", "reports/q3.ipynb",
    ]  # fmt: skip


async def test_kubespawner_pod_manifest(tmp_path, monkeypatch):
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(KUBECONFIG)
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    pytest.importorskip("kubespawner", reason="pip install 'jhembed[kubernetes]'")
    import kubernetes_asyncio.config.kube_config as kube_config

    # read at import time by kubernetes_asyncio
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(kubeconfig))
    from jhembed.spawner import EmbedKubeSpawner

    spawner = EmbedKubeSpawner(_mock=True, config=config())
    spawner.user_options = {"app": "dash", "notebook": "reports/q3.ipynb"}
    await spawner.apply_user_options(spawner, spawner.user_options)
    pod = await spawner.get_pod_manifest()
    container = pod.spec.containers[0]
    argv = (container.command or []) + (container.args or [])
    assert argv == expected_argv()
    env = {e.name: e.value for e in container.env}
    assert env["APP_FLAVOUR"] == "dashboard"
    # a bad option never reaches a pod
    from tornado.web import HTTPError

    with pytest.raises(HTTPError) as e:
        await spawner.apply_user_options(spawner, {"app": "dash", "notebook": "/etc/passwd"})
    assert e.value.status_code == 400 and "notebook" in e.value.log_message


async def test_dockerspawner_command():
    pytest.importorskip("dockerspawner", reason="pip install 'jhembed[docker]'")
    from jhembed.spawner import EmbedDockerSpawner

    spawner = EmbedDockerSpawner(config=config())
    spawner.user_options = {"app": "dash", "notebook": "reports/q3.ipynb"}
    await spawner.apply_user_options(spawner, spawner.user_options)
    assert await spawner.get_command() == expected_argv()


def test_missing_extra_says_what_to_install(monkeypatch):
    import sys

    import jhembed.spawner as spawner_module

    monkeypatch.setitem(sys.modules, "dockerspawner", None)  # as if not installed
    monkeypatch.delitem(spawner_module.__dict__, "EmbedDockerSpawner", raising=False)
    with pytest.raises(ImportError) as e:
        spawner_module.EmbedDockerSpawner  # noqa: B018
    assert "pip install 'jhembed[docker]'" in str(e.value)
