"""The demo: a JupyterHub with EmbedSpawner and a host site that embeds its apps."""
