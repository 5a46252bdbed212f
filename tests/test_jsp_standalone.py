"""jupyter-server-proxy's own tests/test_standalone.py, run against jupyter-embedproxy.

The test file comes from the pinned sdist (tests/jsp-standalone.txt, downloaded
by ``make test`` into ``.venv/jsp-sdist``) with its two imports swapped for
tests/jsp_shim.py and its assertions unchanged. It runs in a pytest of its own
(its own rootdir: our filterwarnings=error is not its configuration), and every
one of its tests must pass, except those listed in REFUSED with the reason
(docs/proxy.md, "Differences from jupyter standaloneproxy", says the same).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import jhembed

HERE = Path(__file__).resolve().parent
PIN = HERE / "jsp-standalone.txt"
SDIST_DIR = Path(sys.prefix) / "jsp-sdist"

# (import line in test_standalone.py, the shim's): each must occur exactly once
IMPORTS = [
    ("from tornado import testing\n", "from jsp_shim import testing\n"),
    (
        "from jupyter_server_proxy.standalone import StandaloneProxyServer\n",
        "from jsp_shim import StandaloneProxyServer\n",
    ),
]
# the files of the sdist the test needs, under <sdist>/tests/
FILES = ["test_standalone.py", "resources/httpinfo.py"]

PASSED = [
    "test_address_and_port_with_http_address",
    "test_address_and_port_with_https_address",
    "test_address_and_port_with_address_and_port",
    "TestStandaloneProxyRedirect::test_add_slash",
    "TestStandaloneProxyRedirect::test_wrong_prefix",
    "TestStandaloneProxyRedirect::test_on_prefix",
    "TestStandaloneProxyWithUnixSocket::test_with_unix_socket",
    "TestStandaloneProxyLogin::test_redirect_to_login_url",
]
# tests whose expectation we refuse on purpose: {test id: reason}; none today
REFUSED: dict[str, str] = {}


def _pinned_version():
    for line in PIN.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert name == "jupyter-server-proxy" and version, f"{PIN}: {line!r} is not a pin"
            return version
    raise AssertionError(f"{PIN} pins no jupyter-server-proxy version")


def _sdist(version):
    path = SDIST_DIR / f"jupyter_server_proxy-{version}.tar.gz"
    if not path.is_file():
        pytest.fail(
            f"{path} is missing: `make test` downloads it (pip download --no-deps "
            f"--no-binary jupyter-server-proxy -d {SDIST_DIR} -r {PIN})",
            pytrace=False,
        )
    return path


def _extract(sdist, version, dest):
    """The sdist's test files into ``dest/tests``, the imports swapped; returns the test file."""
    with tarfile.open(sdist) as tar:
        for name in FILES:
            member = tar.extractfile(f"jupyter_server_proxy-{version}/tests/{name}")
            target = dest / "tests" / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(member.read())
    test_file = dest / "tests" / "test_standalone.py"
    source = test_file.read_text()
    for theirs, ours in IMPORTS:  # two lines rewritten, each exactly once
        found = source.count(theirs)
        assert found == 1, f"{theirs.strip()!r} occurs {found} times in {sdist.name}'s test file"
        source = source.replace(theirs, ours)
    test_file.write_text(source)
    return test_file


def _outcomes(junit):
    """``{test id: "passed" | "failed" | "error" | "skipped"}`` from pytest's junit XML."""
    outcomes = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        cls = case.get("classname").rsplit(".", 1)[-1]
        test_id = case.get("name") if cls == "test_standalone" else f"{cls}::{case.get('name')}"
        kinds = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        outcomes[test_id] = kinds[0] if kinds else "passed"
    return outcomes


def test_jupyter_server_proxy_standalone_tests_pass(tmp_path):
    version = _pinned_version()
    test_file = _extract(_sdist(version), version, tmp_path)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    junit = tmp_path / "junit.xml"
    # this jhembed (a worktree's, not the installed one) and the shim
    path = [str(Path(jhembed.__file__).resolve().parents[1]), str(HERE)]
    path += [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(path))
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:asyncio",
            "-rA",
            "--rootdir",
            str(tmp_path),
            "-c",
            str(tmp_path / "pytest.ini"),
            f"--junitxml={junit}",
            str(test_file),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = f"jupyter-server-proxy {version} test_standalone.py (exit {run.returncode}):\n"
    output += run.stdout[-20000:] + run.stderr[-5000:]
    assert junit.is_file(), output
    outcomes = _outcomes(junit)
    expected = {t: "passed" for t in PASSED}
    expected.update({t: "failed" for t in REFUSED})
    assert outcomes == expected, output
