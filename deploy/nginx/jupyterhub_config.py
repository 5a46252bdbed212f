# jhembed-auth, the service behind nginx's auth_request: add to jupyterhub_config.py.
# It listens on 127.0.0.1:10101 ({{AUTH_UPSTREAM}} in jupyterhub.conf); its rules
# are in jhembed_auth_config.py.
import sys

c = get_config()  # noqa: F821

c.JupyterHub.services.append(
    {
        "name": "jhembed-auth",
        "url": "http://127.0.0.1:10101",
        "command": [
            sys.executable,
            "-m",
            "jhembed.auth_request",
            "--config=/etc/jupyterhub/jhembed_auth_config.py",
        ],
        # users log in to it through the Hub's OAuth, without a confirmation page
        "oauth_no_confirm": True,
        # the scopes its tokens may carry: what the rules check, and the groups it reports
        "oauth_client_allowed_scopes": [
            "access:servers",
            "read:users:groups!user",
            "custom:reports:read",
        ],
    }
)

# every user may log in to it
c.JupyterHub.load_roles.append(
    {"name": "user", "scopes": ["self", "access:services!service=jhembed-auth"]}
)

# an example of a site-specific permission, checked by a rule in jhembed_auth_config.py
c.JupyterHub.custom_scopes = {"custom:reports:read": {"description": "Read the site's reports"}}
c.JupyterHub.load_groups = {"readers": {"users": ["alice"]}}
c.JupyterHub.load_roles.append(
    {"name": "report-readers", "scopes": ["custom:reports:read"], "groups": ["readers"]}
)
