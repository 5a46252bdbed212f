"""The docs build with warnings as errors, and document every option."""

import subprocess
import sys
from pathlib import Path

import pytest

from jhembed.proxy.app import EmbedProxy

ROOT = Path(__file__).resolve().parents[1]


def test_every_proxy_option_has_help_and_a_cli_name():
    aliases = {dest for dest in EmbedProxy.aliases.values()}
    flagged = {
        f"EmbedProxy.{name}"
        for conf, _ in EmbedProxy.flags.values()
        for name in conf.get("EmbedProxy", {})
    }
    for name, trait in EmbedProxy.class_own_traits(config=True).items():
        assert (trait.help or "").strip(), f"EmbedProxy.{name} has no help"
        if name != "command":
            assert f"EmbedProxy.{name}" in aliases | flagged, f"EmbedProxy.{name} has no CLI option"


@pytest.mark.slow
def test_docs_build_with_warnings_as_errors(tmp_path):
    out = tmp_path / "html"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-W",
            "--keep-going",
            "-q",
            "-b",
            "html",
            str(ROOT / "docs"),
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    reference = (ROOT / "docs" / "reference" / "generated" / "EmbedProxy.md").read_text()
    for name in EmbedProxy.class_own_traits(config=True):
        assert f"c.EmbedProxy.{name}`" in reference
    assert (out / "reference" / "generated" / "EmbedProxy.html").exists()
