"""``make bench-quick`` as a smoke test: every contender runs, every figure is there.

No timing assertions: figures depend on the machine.  What must hold anywhere:
our proxy answers every request with 2xx, moves the transfers intact, echoes
websockets, and the table and plots are written.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow

OURS = ("embedproxy", "embedproxy+auth")
PEERS = ("direct", "tcp-relay", "standaloneproxy", "standaloneproxy+auth")


def test_quick_bench_runs_every_contender(tmp_path):
    if shutil.which("wrk") is None:
        pytest.skip("wrk is not installed (run `bash tools/system-deps.sh test`)")
    docs = tmp_path / "docs"
    r = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--only",
         ",".join(OURS + PEERS), "--out", str(tmp_path), "--docs", str(docs)],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    [result_file] = tmp_path.glob("*.json")
    results = json.loads(result_file.read_text())
    contenders = results["contenders"]
    assert set(OURS + PEERS) <= set(contenders), r.stderr[-3000:]
    for name in OURS + PEERS:
        entry = contenders[name]
        assert "error" not in entry, (name, entry.get("error"))
        for c in (1, 10, 100):
            assert entry[f"get_c{c}"]["rps"] > 0, name
        assert entry["websocket"]["small"]["msgs_per_s"] > 0, name
    for name in OURS:
        entry = contenders[name]
        for c in (1, 10, 100):
            figures = entry[f"get_c{c}"]
            assert figures["non2xx"] == 0 and figures["socket_errors"] == 0, (name, figures)
        # 200 MiB each way, sha256 checked by the bench
        assert entry["download"]["sha_ok"] and entry["upload"]["sha_ok"], (name, entry)
        assert entry["idle_rss_MiB"] > 0
    assert contenders["embedproxy"]["ready_after_listen_ms"] > 0
    # the table with ratios and target checks, and the plots
    page = (docs / "results.md").read_text()
    assert "**Ratios**" in page and "**Targets**" in page
    for png in ("ratios", "small-get", "latency", "streaming", "websocket", "memory"):
        assert (docs / f"{png}.png").stat().st_size > 1000, png


async def test_voila_spawn_to_first_byte_runs():
    """The full bench's Voila figure (spawn through a real Hub to the page's first
    byte) is not part of --quick: run it here, so a broken call shows in the suite
    and not as a 'failed' line in docs/benchmarks/results.md."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "bench" / "run.py")
    bench_run = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench_run)
    seconds = await bench_run.voila_first_byte()
    assert 0 < seconds < 120
