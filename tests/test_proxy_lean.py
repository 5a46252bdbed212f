"""jhembed.proxy.lean: SQLAlchemy and JupyterHub's ORM stay out of the proxy until used.

Every test that starts a real ``jupyter-embedproxy`` with Hub login runs with
the placeholders (the console script, ``lean.command``, registers them); these tests
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
    assert words[:3] == ["sqlalchemy", "jupyterhub.orm", "jupyterhub.roles"]
    assert words[3] == "orm-absent"
    assert words[4] == "['access:servers!server=a/b']"


def test_the_proxy_imports_without_sqlalchemy_and_gets_it_whole_on_first_use():
    # jupyterhub.utils imports sqlalchemy.exc: only it (and sqlalchemy.util) import, the real
    # modules; the first other use loads the real package once, in its own order
    words = run_python(
        """
        import sys
        from jhembed.proxy.lean import defer_hub_database
        defer_hub_database()
        import jhembed.proxy.app, jhembed.proxy.auth, jhembed.proxy.login, jhembed.proxy.front
        import jupyterhub.utils
        print(type(sys.modules["sqlalchemy"]).__name__, "sqlalchemy.engine" in sys.modules)
        exc = sys.modules["sqlalchemy.exc"]
        import sqlalchemy.sql.schema  # as alembic does: a submodule first
        import sqlalchemy as sa
        real = sys.modules["sqlalchemy"]
        print(type(real).__name__, real.sql is sys.modules["sqlalchemy.sql"], hasattr(real.sql, "base"))
        print(jupyterhub.utils.SQLAlchemyError is real.exc.SQLAlchemyError, real.exc is exc)
        print(type(real.sql.__spec__.loader).__name__, sa.select is real.select)
        import jupyterhub.orm
        engine = sa.create_engine("sqlite://")
        jupyterhub.orm.Base.metadata.create_all(engine)
        with engine.connect() as c:
            print(c.execute(sa.text("select count(*) from users")).scalar())
        """
    )
    assert words == [
        "_Deferred", "False", "module", "True", "True", "True", "True", "SourceFileLoader", "True",
        "0",
    ]  # fmt: skip


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


def test_the_console_script_defers_before_it_imports_the_proxy():
    # jupyter-embedproxy is jhembed.proxy.lean:command: the placeholders go in before
    # jhembed.proxy.app (whose modules import jupyterhub.utils, hence sqlalchemy.exc)
    from importlib.metadata import entry_points

    [script] = [e for e in entry_points(group="console_scripts") if e.name == "jupyter-embedproxy"]
    assert script.value == "jhembed.proxy.lean:command"
    words = run_python(
        """
        import sys
        sys.argv = ["jupyter-embedproxy", "--version"]
        from jhembed.proxy.lean import command
        try:
            command()
        except SystemExit:
            pass
        print(type(sys.modules["sqlalchemy"]).__name__, "sqlalchemy.engine" in sys.modules)
        """
    )
    assert words[-2:] == ["_Deferred", "False"]
