"""The proxy's layout as issue 15 asks it: no module of jhembed/proxy/ over 500 lines."""

from pathlib import Path

import jhembed.proxy

PROXY = Path(jhembed.proxy.__file__).parent


def test_no_proxy_module_over_500_lines():
    sizes = {p.name: len(p.read_text().splitlines()) for p in PROXY.glob("*.py")}
    assert len(sizes) > 10, sizes
    assert {name: n for name, n in sizes.items() if n > 500} == {}
