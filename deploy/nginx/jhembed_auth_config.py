# jhembed-auth's configuration (--config=/etc/jupyterhub/jhembed_auth_config.py).
c = get_config()  # noqa: F821

# path prefix -> scopes (one of them is enough; [] = any Hub user); other paths: 403.
# {hub base URL}user/<name>/... needs access to that server (AuthRequest.server_rules).
c.AuthRequest.rules = {
    "/reports/": ["custom:reports:read"],
    "/reports/public/": [],
}
# how long the Hub's answer for a token is reused (seconds)
c.AuthRequest.cache_max_age = 10
