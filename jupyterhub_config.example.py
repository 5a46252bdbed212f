"""A runnable JupyterHub with EmbedSpawner: the README's demo (`make demo`).

    jupyterhub -f jupyterhub_config.example.py

!!! DEMO ONLY: DummyAuthenticator lets ANYONE log in as ANY user with ANY
!!! password, and user servers run as the Hub's own system user
!!! (SimpleEmbedSpawner). Use a real authenticator and EmbedSpawner (or the
!!! Docker/Kubernetes compositions) in production.

Environment (all optional):
  JHEMBED_DEMO_DIR            state: database, cookie secret, users' homes (default: ./.demo)
  JHEMBED_DEMO_HUB_PORT       public port of the Hub (default 8000, on 127.0.0.1)
  JHEMBED_DEMO_HUB_API_PORT   the Hub's internal API port (default 8081)
  JHEMBED_DEMO_PROXY_API_PORT configurable-http-proxy's API port (default 8001)
  JHEMBED_DEMO_HOST_ORIGIN    the host site that may frame the apps (default http://localhost:8701)

The Hub keeps JupyterHub's and configurable-http-proxy's own default ports (8000
public, 8081 internal API, 8001 proxy API); the host site's port (8701) is none of them.
  JHEMBED_DEMO_SERVICE_TOKEN  Hub API token of the host site (the demo generates one)
  JHEMBED_DEMO_LAUNCHER_PORT  port of the launcher service (default: a free one; users
                              reach it at http://127.0.0.1:8000/services/apps/)
"""

import os
import shutil
import sys
from pathlib import Path

import jhembed.launcher

HERE = Path(__file__).resolve().parent
DEMO_DIR = Path(os.environ.get("JHEMBED_DEMO_DIR", HERE / ".demo"))
DEMO_DIR.mkdir(parents=True, exist_ok=True)
HOST_ORIGIN = os.environ.get("JHEMBED_DEMO_HOST_ORIGIN", "http://localhost:8701")
EXAMPLES = HERE / "share" / "jupyterhub" / "jhembed" / "examples"
if not EXAMPLES.is_dir():  # installed package
    EXAMPLES = Path(sys.prefix) / "share" / "jupyterhub" / "jhembed" / "examples"

c = get_config()  # noqa: F821

# -- the Hub -------------------------------------------------------------------------------
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = int(os.environ.get("JHEMBED_DEMO_HUB_PORT", "8000"))
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = int(os.environ.get("JHEMBED_DEMO_HUB_API_PORT", "8081"))
PROXY_API_PORT = int(os.environ.get("JHEMBED_DEMO_PROXY_API_PORT", "8001"))
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{PROXY_API_PORT}"
# configurable-http-proxy installed into the project by `npm ci` (make setup)
c.ConfigurableHTTPProxy.command = [str(HERE / "node_modules" / ".bin" / "configurable-http-proxy")]
c.JupyterHub.db_url = f"sqlite:///{DEMO_DIR / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(DEMO_DIR / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(DEMO_DIR / "jupyterhub.pid")
c.JupyterHub.allow_named_servers = True

# DEMO ONLY: any user name, any password
c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allow_all = True

# -- EmbedSpawner ------------------------------------------------------------------------------
# SimpleEmbedSpawner: servers run as the Hub's user, homes under JHEMBED_DEMO_DIR
c.JupyterHub.spawner_class = "embed-simple"
c.SimpleLocalProcessSpawner.home_dir_template = str(DEMO_DIR / "users" / "{username}")
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120

c.EmbedSpawner.apps = {
    "dashboard": {
        "preset": "voila",
        "display_name": "Voila dashboard",
        "description": "A notebook with widgets, shown as a dashboard.",
        "options": {"notebook": {"default": "dashboard.ipynb"}},
    },
    "notebook": {
        "preset": "notebook",
        "description": "Edit the notebook; the host site can ask it to save (postMessage bridge).",
        "bridge": True,
    },
    "lab": {
        "preset": "jupyterlab",
        "description": "JupyterLab, to edit and run notebooks.",
        # the bridge also keeps Lab's storage working in browsers that block
        # third-party storage in cross-site frames
        "bridge": True,
    },
    "files": {"preset": "http-server", "description": "Your files as a plain listing."},
}
# the host site may frame the apps and log users in with short-lived tokens
c.EmbedSpawner.frame_ancestors = ["'self'", HOST_ORIGIN]
c.EmbedSpawner.allow_token_login = True
# (cookies are SameSite=None; Secure; Partitioned by default for such servers)
# /hub/spawn/<user>/<app> starts that app: one named server per app per user
c.EmbedSpawner.app_from_server_name = True


def copy_examples(spawner):
    """Give every user the example notebook."""
    home = Path(spawner.home_dir_template.format(username=spawner.user.name))
    home.mkdir(parents=True, exist_ok=True)
    for example in EXAMPLES.glob("*.ipynb"):
        if not (home / example.name).exists():
            shutil.copy(example, home / example.name)


c.Spawner.pre_spawn_hook = copy_examples

# -- the host site's Hub service: least privilege ------------------------------------------------
# The host site (jhembed.demo.host, or your own web app using jhembed.client) needs:
#   admin:users  create the site's users in the Hub (HubClient.ensure_user) and read them
#   admin:groups create groups and add users to them (ensure_user(groups=...)); drop it if unused
#   servers      start and stop users' servers and follow their progress (start_server, stop_server)
#   tokens       mint short-lived tokens for users (create_token); the site asks only for
#                access:servers!server=<user>/<app> and an expiry, so a token opens one server
# It does NOT get access:servers (it never opens servers itself) or admin:auth_state.
service_token = os.environ.get("JHEMBED_DEMO_SERVICE_TOKEN")
if service_token:
    c.JupyterHub.services = [{"name": "demo-host", "api_token": service_token}]
    c.JupyterHub.load_roles = [
        {
            "name": "embed-host",
            "description": "A host web site that embeds users' servers",
            "scopes": ["admin:users", "admin:groups", "servers", "tokens"],
            "services": ["demo-host"],
        }
    ]

# -- the launcher: /services/apps/, linked from the Hub's home page ------------------------------
# Users start, open, embed and share their apps there (docs/launcher.md). It acts with
# each user's own OAuth token; configure() adds the service, its OAuth scopes and the
# `user` role's sharing scopes (after the services and roles above, which it keeps).
launcher_port = os.environ.get("JHEMBED_DEMO_LAUNCHER_PORT")
jhembed.launcher.configure(c, port=int(launcher_port) if launcher_port else None)
