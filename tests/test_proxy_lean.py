"""jhembed.proxy.lean: JupyterHub's ORM stays out of the proxy until something uses it.

Every test that starts a real ``jupyter-embedproxy`` with Hub login runs with
the placeholders (the console script's ``main`` registers them); these tests
check the mechanism itself, in a fresh interpreter each.
"""

import subprocess
import sys
import textwrap


def run_python(code):
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def test_hub_login_imports_without_the_orm():
    words = run_python(
        """
        import sys
        from jhembed.proxy.lean import defer_hub_database
        print(*defer_hub_database())
        from jhembed.proxy.auth import EmbedHubOAuth, HubLogin
        from jupyterhub.services.auth import check_scopes
        print("orm-loaded" if "sqlalchemy.orm" in sys.modules else "orm-absent")
        print(sorted(check_scopes({"access:servers!server=a/b"}, {"access:servers!server=a/b"})))
        """
    )
    assert words[:2] == ["jupyterhub.orm", "jupyterhub.roles"]
    assert words[2] == "orm-absent"
    assert words[3] == "['access:servers!server=a/b']"


def test_placeholder_loads_the_real_module_on_first_use():
    words = run_python(
        """
        import sys
        from jhembed.proxy.lean import defer_hub_database
        defer_hub_database()
        import jupyterhub.scopes as scopes
        print("orm-loaded" if "sqlalchemy.orm" in sys.modules else "orm-absent")
        base = scopes.orm.Base  # first use: the real jupyterhub.orm is imported
        from jupyterhub import orm
        print("orm-loaded" if "sqlalchemy.orm" in sys.modules else "orm-absent")
        print(base is orm.Base, type(sys.modules["jupyterhub.orm"]).__name__)
        print(scopes.roles.get_roles_for is sys.modules["jupyterhub.roles"].get_roles_for)
        """
    )
    assert words == ["orm-absent", "orm-loaded", "True", "module", "True"]


def test_nothing_deferred_once_imported():
    words = run_python(
        """
        import jupyterhub.orm, jupyterhub.roles
        from jhembed.proxy.lean import defer_hub_database
        print(len(defer_hub_database()))
        """
    )
    assert words == ["0"]


def test_only_the_command_defers():
    # main(argv), a library call (tests, launch_instance users), leaves modules alone;
    # main() as the console script calls it (argv from sys.argv) defers them
    words = run_python(
        """
        import sys
        from jhembed.proxy.app import main
        for argv in (["--version"], None):
            sys.argv = ["jupyter-embedproxy", "--version"]
            try:
                main(argv)
            except SystemExit:
                pass
            print(type(sys.modules.get("jupyterhub.orm")).__name__)
        """
    )
    assert [w for w in words if w.isidentifier()] == ["NoneType", "_Deferred"]
