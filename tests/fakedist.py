"""A tiny installed package for tests: one module and its jupyter-server-proxy entry points."""


def server_proxy_package(site, module, source, entry_points):
    """Write package ``module`` (its ``source``) into the directory ``site``, registering
    ``entry_points`` (name -> "module:function") as ``jupyter_serverproxy_servers``.

    Put ``site`` on ``sys.path`` (or a Hub's ``PYTHONPATH``) to install it; returns ``site``.
    """
    info = site / f"{module}-1.0.dist-info"
    info.mkdir(parents=True)
    (site / f"{module}.py").write_text(source)
    name = module.replace("_", "-")
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    lines = ["[jupyter_serverproxy_servers]"] + [f"{k} = {v}" for k, v in entry_points.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    return site
