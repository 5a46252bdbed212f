"""Shared fixtures.  Helpers live in modules next to this file (hub.py, ...)."""

import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

# processes the tests start (jupyterhub, jupyter-embedproxy) come from this venv
os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])


def pytest_report_header(config):
    import jupyterhub

    return f"jupyterhub {jupyterhub.__version__} (tests marked `hub` start it for real)"


def pytest_collection_modifyitems(config, items):
    """Every test that starts a real JupyterHub is marked ``hub``: `make test` runs
    those a second time in the JupyterHub 5 environment (.venv-jh5)."""
    for item in items:
        # hub_factory, or a module's shared `hub` fixture (tests/test_security_seam.py)
        if {"hub_factory", "hub"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.hub)


@pytest.fixture
async def hub_factory(tmp_path):
    """Start real JupyterHubs: ``hub = await hub_factory(config="...")``; all stopped at the end."""
    from hub import Hub

    hubs = []

    async def start(config="", **kwargs):
        hub = Hub(tmp_path / f"hub{len(hubs)}", config=config, **kwargs)
        hubs.append(hub)
        try:
            await hub.start()
        except BaseException:
            print(hub.log_tail(200), file=sys.stderr)
            raise
        return hub

    yield start
    for hub in hubs:
        await hub.stop()
