"""``python -m jhembed.launcher``: run the launcher service (the Hub starts it)."""

from .app import main

main()
