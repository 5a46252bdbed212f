"""Ratios, target checks, the markdown table and the plots for one bench/run.py result."""

from __future__ import annotations

MB_IN_MIB = 1e6 / 2**20  # targets are in MB, figures in MiB

# (label, getter) for the figures compared between contenders; higher is better for all
METRICS = [
    ("small GET req/s c1", lambda e: e["get_c1"]["rps"]),
    ("small GET req/s c10", lambda e: e["get_c10"]["rps"]),
    ("small GET req/s c100", lambda e: e["get_c100"]["rps"]),
    ("download MB/s", lambda e: e["download"].get("MBps")),
    ("upload MB/s", lambda e: e["upload"].get("MBps")),
    ("ws small msgs/s", lambda e: e["websocket"]["small"]["msgs_per_s"]),
    ("ws 1 MiB msgs/s", lambda e: e["websocket"]["1MiB"]["msgs_per_s"]),
]

# (ours, other) pairs whose ratio ours/other is reported
PAIRS = [
    ("embedproxy", "standaloneproxy"),
    ("embedproxy+auth", "standaloneproxy+auth"),
    ("embedproxy", "jhsingle-native-proxy"),
    ("embedproxy", "direct"),
    ("embedproxy+auth", "direct"),
    # the bare byte relay: what is left of the gap to direct once HTTP is taken away
    ("embedproxy", "tcp-relay"),
    ("tcp-relay", "direct"),
    # issue 15's candidates (bench/run.py --candidates); left out when not measured
    ("aiohttp-candidate+auth", "standaloneproxy+auth"),
    ("aiohttp-candidate+auth", "embedproxy+auth"),
    ("aiohttp-candidate", "direct"),
    ("aiohttp-candidate+auth", "direct"),
]

# issue 15 item 6: the speed floor a design must meet, for these contenders side by side
# (and tcp-relay as a reference: bytes only, what no asyncio proxy can go below)
FLOOR_CONTENDERS = ("embedproxy+auth", "aiohttp-candidate+auth", "tcp-relay")


def _get(fn, entry):
    try:
        return fn(entry)
    except (KeyError, TypeError):
        return None


def _growth(e, way, fallback=True):
    """Peak RSS growth of a proxy during a transfer that arrived intact (else the 50 MiB one)."""
    if "idle_rss_MiB" not in e:
        return None
    if e[way].get("sha_ok"):
        return e[way]["rss_growth_MiB"]
    if fallback and e.get("fallback", {}).get(way, {}).get("sha_ok"):
        return e["fallback"][way]["rss_growth_MiB"]
    return "failed" if not fallback else None


def _nan(v):
    return float("nan") if v is None else v


def ratios(results):
    c = results["contenders"]
    out = {}
    for ours, other in PAIRS:
        if ours not in c or other not in c:
            continue
        row = {}
        for label, fn in METRICS:
            a, b = _get(fn, c[ours]), _get(fn, c[other])
            row[label] = a / b if a is not None and b else None
        out[f"{ours} / {other}"] = row
    return out


def targets(results):
    """The issue's targets, each with the figure, the limit and whether this run meets it."""
    c, r = results["contenders"], ratios(results)
    size_note = "" if not results["quick"] else " (quick run: 200 MiB, not 1 GB)"
    out = []

    def add(target, contender, value, limit, kind, unit=""):
        if value is None:
            out.append({"target": target, "contender": contender, "value": None, "limit": limit,
                        "met": None, "unit": unit})  # fmt: skip
            return
        met = value >= limit if kind == ">=" else value <= limit if kind == "<=" else value < limit
        margin = value / limit if kind == ">=" else value - limit
        out.append({"target": target, "contender": contender, "value": value, "limit": limit,
                    "kind": kind, "met": met, "margin": margin, "unit": unit})  # fmt: skip

    for conc in (1, 10, 100):
        key = f"small GET req/s c{conc}"
        v = r.get("embedproxy+auth / standaloneproxy+auth", {}).get(key)
        add(f"small GET c{conc} with auth >= 5x standaloneproxy with auth", "embedproxy+auth",
            v, 5.0, ">=", "x")  # fmt: skip
        v = r.get("embedproxy+auth / direct", {}).get(key)
        add(f"small GET c{conc} with auth >= 40% of direct", "embedproxy+auth", v, 0.40, ">=", "x")
    for name in ("embedproxy+auth", "embedproxy"):
        v = None
        if name in c and "direct" in c:
            v = _get(lambda e: e["get_c1"]["p50_ms"], c[name])
            d = _get(lambda e: e["get_c1"]["p50_ms"], c["direct"])
            v = v - d if v is not None and d is not None else None
        add("added p50 latency at c1 <= 0.5 ms", name, v, 0.5, "<=", "ms")
    for name in ("embedproxy+auth", "embedproxy"):
        for way in ("download", "upload"):
            e = c.get(name, {}).get(way, {})
            v = e.get("rss_growth_MiB") if e.get("sha_ok") else None
            add(f"{way} RSS growth < 64 MB{size_note}", name, v, 64 * MB_IN_MIB, "<", "MiB")
    for ours, other in (
        ("embedproxy", "standaloneproxy"),
        ("embedproxy+auth", "standaloneproxy+auth"),
    ):
        for label in ("ws small msgs/s", "ws 1 MiB msgs/s"):
            v = r.get(f"{ours} / {other}", {}).get(label)
            add(f"{label} >= 3x {other}", ours, v, 3.0, ">=", "x")
    for name in ("embedproxy", "embedproxy+auth"):
        add(
            "idle RSS <= 60 MB",
            name,
            c.get(name, {}).get("idle_rss_MiB"),
            60 * MB_IN_MIB,
            "<=",
            "MiB",
        )
    add("ready <= 50 ms after the child listens", "embedproxy",
        c.get("embedproxy", {}).get("ready_after_listen_ms"), 50.0, "<=", "ms")  # fmt: skip
    return out


def floor(results):
    """Issue 15's speed floor, checked for each of FLOOR_CONTENDERS measured in this run.

    Returns {criterion: {contender: {"value", "unit", "met"}}}; empty without embedproxy+auth.
    """
    c = results["contenders"]
    names = [n for n in FLOOR_CONTENDERS if n in c]
    if "embedproxy+auth" not in names:
        return {}
    mib = 64 * MB_IN_MIB
    out = {}

    def ratio(name, other, fn):
        if other not in c:
            return None
        a, b = _get(fn, c[name]), _get(fn, c[other])
        return a / b if a is not None and b else None

    def added_p50(name):
        a = _get(lambda e: e["get_c1"]["p50_ms"], c[name])
        d = _get(lambda e: e["get_c1"]["p50_ms"], c.get("direct", {}))
        return a - d if a is not None and d is not None else None

    def transfer(name, way):
        e = _get(lambda e: e[way], c[name])
        if not e:
            return None
        return e["rss_growth_MiB"] if e.get("sha_ok") else "failed"

    c10 = lambda e: e["get_c10"]["rps"]  # noqa: E731
    ws = lambda e: e["websocket"]["1MiB"]["msgs_per_s"]  # noqa: E731
    criteria = [
        ("small GET c10 >= 15x standaloneproxy+auth", "x", ">=", 15.0,
         lambda n: ratio(n, "standaloneproxy+auth", c10)),
        ("small GET c10 >= 0.5 of direct", "x", ">=", 0.5, lambda n: ratio(n, "direct", c10)),
        ("added p50 at c1 <= 0.1 ms", "ms", "<=", 0.1, added_p50),
        ("1 GB download: sha256 equal, RSS growth < 64 MB", "MiB", "<", mib,
         lambda n: transfer(n, "download")),
        ("1 GB upload: sha256 equal, RSS growth < 64 MB", "MiB", "<", mib,
         lambda n: transfer(n, "upload")),
        ("ws 1 MiB msgs/s >= 0.85 of direct", "x", ">=", 0.85, lambda n: ratio(n, "direct", ws)),
    ]  # fmt: skip
    for label, unit, kind, limit, fn in criteria:
        if results["quick"] and "1 GB" in label:
            label = label.replace("1 GB", "200 MiB (quick run)")
        row = out[label] = {}
        for n in names:
            v = fn(n)
            if v is None or v == "failed":
                met = None if v is None else False
            else:
                met = v >= limit if kind == ">=" else v <= limit if kind == "<=" else v < limit
            row[n] = {"value": v, "unit": unit, "met": met}
    row = out["idle RSS <= 60 MiB (issue 15's figure; issue 8's table above asks 60 MB)"] = {}
    for n in names:
        v = c[n].get("idle_rss_MiB")
        row[n] = {"value": v, "unit": "MiB", "met": None if v is None else v <= 60}
    return out


def _floor_cell(cell):
    v, unit, met = cell["value"], cell["unit"], cell["met"]
    if v is None:
        return "not measured"
    text = v if isinstance(v, str) else _fmt(v, unit)
    return text + {True: " (met)", False: " (**missed**)", None: ""}[met]


def _fmt(v, unit):
    if v is None:
        return "-"
    if unit == "x":
        return f"{v:.2f}x"
    return f"{v:.2f} {unit}"


def markdown(results):
    c = results["contenders"]
    names = list(c)
    v = results["versions"]
    lines = [
        f"Run {results['started']}{' (quick)' if results['quick'] else ''}, "
        f"`{results['command']}`, {v['cpu_count']} cores, "
        f"load average at start {results['load_average_at_start'][0]:.2f}.",
        "",
        "Versions: " + ", ".join(f"{k} {val}" for k, val in v.items() if val is not None) + ".",
        "",
        "| figure | " + " | ".join(names) + " |",
        "|---|" + "---:|" * len(names),
    ]

    def row(label, fn, fmt):
        cells = []
        for n in names:
            val = _get(fn, c[n])
            cells.append("-" if val is None else val if isinstance(val, str) else fmt.format(val))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")

    def rate(way):
        return lambda e: f"{e[way]['MBps']:,.0f}" if "MBps" in e[way] else "failed"

    for conc in (1, 10, 100):
        row(f"small GET req/s, c{conc}", lambda e, k=f"get_c{conc}": e[k]["rps"], "{:,.0f}")
        row(f"p50 / p99 ms, c{conc}", lambda e, k=f"get_c{conc}": (e[k]["p50_ms"], e[k]["p99_ms"]),
            "{0[0]:.2f} / {0[1]:.2f}")  # fmt: skip
    row("download MB/s", rate("download"), "{}")
    row("upload MB/s", rate("upload"), "{}")
    row("download peak RSS growth MiB", lambda e: _growth(e, "download", fallback=False), "{:.1f}")
    row("upload peak RSS growth MiB", lambda e: _growth(e, "upload", fallback=False), "{:.1f}")
    for way in ("download", "upload"):
        row(f"{way} at 50 MiB where the full size failed: MB/s, RSS growth MiB",
            lambda e, w=way: (f"{e['fallback'][w]['MBps']:,.0f}, {e['fallback'][w]['rss_growth_MiB']:.1f}"
                              if "MBps" in e["fallback"][w] else
                              f"failed, {e['fallback'][w]['rss_growth_MiB']:.1f}"), "{}")  # fmt: skip
    row("sha256 equal both ways",
        lambda e: bool(e["download"].get("sha_ok") and e["upload"].get("sha_ok")), "{}")  # fmt: skip
    row("ws small msgs/s", lambda e: e["websocket"]["small"]["msgs_per_s"], "{:,.0f}")
    row("ws small p50 ms", lambda e: e["websocket"]["small"]["p50_ms"], "{:.3f}")
    row("ws 1 MiB msgs/s", lambda e: e["websocket"]["1MiB"]["msgs_per_s"], "{:,.0f}")
    row("ws 1 MiB p50 ms", lambda e: e["websocket"]["1MiB"]["p50_ms"], "{:.2f}")
    row("idle RSS MiB (proxy only)", lambda e: e.get("idle_rss_MiB"), "{:.1f}")
    row("ready after child listens, ms", lambda e: e.get("ready_after_listen_ms"), "{:.1f}")

    rt = results.get("ratios") or ratios(results)
    if rt:
        lines += ["", "**Ratios** (same run; higher is better):", "",
                  "| figure | " + " | ".join(rt) + " |", "|---|" + "---:|" * len(rt)]  # fmt: skip
        for label, _ in METRICS:
            cells = [_fmt(rt[p].get(label), "x") for p in rt]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")

    tg = results.get("targets") or targets(results)
    lines += ["", "**Targets** (issue 8):", "", "| target | contender | figure | met |",
              "|---|---|---:|---|"]  # fmt: skip
    for t in tg:
        met = {True: "yes", False: "**no**", None: "not measured"}[t["met"]]
        if t["met"] is not None:
            if t["unit"] == "x":
                met += f" ({t['margin']:.2f}x the target)"
            else:
                met += f" ({t['margin']:+.2f} {t['unit']} vs the limit {t['limit']:.1f})"
        lines.append(
            f"| {t['target']} | {t['contender']} | {_fmt(t['value'], t['unit'])} | {met} |"
        )

    fl = results.get("floor") or floor(results)
    if fl:
        names_fl = list(next(iter(fl.values())))
        lines += ["", "**Issue 15 speed floor** (same run, with Hub auth; `tcp-relay`, without"
                  " HTTP or auth, for reference):", "",
                  "| criterion | " + " | ".join(names_fl) + " |",
                  "|---|" + "---:|" * len(names_fl)]  # fmt: skip
        for label, row in fl.items():
            lines.append(f"| {label} | " + " | ".join(_floor_cell(row[n]) for n in names_fl) + " |")

    lines += ["", "Notes:", ""]
    for n in names:
        lines.append(f"- `{n}`: {results['notes'].get(n, '')}")
        for way in ("download", "upload"):
            err = _get(lambda e, w=way: e[w].get("error"), c[n])
            if err:
                lines.append(f"  - {way} failed: `{err[:160]}`")
        if c[n].get("error"):
            lines.append(f"  - failed: `{c[n]['error'][:200]}`")
    for n, reason in results.get("skipped", {}).items():
        lines.append(f"- `{n}`: **skipped**: {reason}")
    lines.append("- websocket msgs/s: echoed messages per second with 8 connections keeping 32 "
                 "messages in flight each (1 MiB: 4 connections, 2 in flight; in the full run the "
                 "median of 3 rounds, every contender in each, the rounds in results.json); "
                 "websocket p50: "
                 "sequential round trips on one connection. The clients are Python (aiohttp), so "
                 "the `direct` column is the clients' ceiling, not the backend's.")  # fmt: skip
    voila = results.get("voila_spawn_to_first_byte_s")
    if isinstance(voila, float):
        voila = f"{voila:.2f} s"
    lines.append(f"- Voila through JupyterHub + configurable-http-proxy, spawn request to first "
                 f"byte: {voila}")  # fmt: skip
    return "\n".join(lines) + "\n"


def page(results, table, images):
    out = ["# Latest results", "",
           f"Made by `{results['command']}` (`make bench{'-quick' if results['quick'] else ''}`) "
           f"in {results['duration_s']:.0f} s; every figure, with the settings and versions, is in "
           "`docs/benchmarks/results.json`.", "",
           table]  # fmt: skip
    out += [f"![{title}]({file})\n" for file, title in images]
    return "\n".join(out)


def plots(results, outdir):
    """Write the PNGs into ``outdir``; returns [(file name, title)]."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    c = results["contenders"]
    names = [n for n in c if "get_c1" in c[n]]
    images = []

    def grouped(file, title, ylabel, groups, getter, log=False):
        fig, ax = plt.subplots(figsize=(11, 4.2))
        width = 0.8 / max(len(names), 1)
        for i, n in enumerate(names):
            vals = [_nan(_get(lambda e, g=g: getter(e, g), c[n])) for g in groups]
            ax.bar([x + i * width for x in range(len(groups))], vals, width, label=n)
        ax.set_xticks([x + 0.4 - width / 2 for x in range(len(groups))], groups)
        ax.set_ylabel(ylabel)
        if log:
            ax.set_yscale("log")
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
        fig.tight_layout()
        fig.savefig(outdir / file, dpi=100)
        plt.close(fig)
        images.append((file, title))

    conc = ["c=1", "c=10", "c=100"]
    grouped("small-get.png", "Small GET throughput (higher is better)", "requests/s", conc,
            lambda e, g: e[f"get_{g.replace('=', '')}"]["rps"], log=True)  # fmt: skip
    grouped("latency.png", "Small GET p50 latency (lower is better)", "ms", conc,
            lambda e, g: e[f"get_{g.replace('=', '')}"]["p50_ms"], log=True)  # fmt: skip
    grouped("streaming.png", "Streaming throughput, sha256 checked (higher is better; no bar = failed)",
            "MB/s", ["download", "upload"], lambda e, g: e[g].get("MBps"))  # fmt: skip
    grouped("websocket.png", "Websocket echo, messages in flight on several connections (higher is better)", "messages/s",
            ["100 B", "1 MiB"],
            lambda e, g: e["websocket"]["small" if g == "100 B" else "1MiB"]["msgs_per_s"],
            log=True)  # fmt: skip
    size = f"{results['settings']['size'] >> 20} MiB"
    grouped("memory.png", f"Proxy memory (lower is better); peak growth moving {size}, or 50 MiB"
            " for proxies that fail that", "MiB",
            ["idle RSS", "download peak growth", "upload peak growth"],
            lambda e, g: e.get("idle_rss_MiB") if g == "idle RSS" else _growth(e, g.split()[0]))  # fmt: skip

    rt = results.get("ratios") or ratios(results)
    pairs = [p for p in rt if not p.endswith("/ direct")] + [
        p for p in rt if p.endswith("/ direct")
    ]
    if pairs:
        labels = [m for m, _ in METRICS]
        fig, ax = plt.subplots(figsize=(11, 4.8))
        width = 0.8 / len(pairs)
        for i, p in enumerate(pairs):
            ax.barh([y + i * width for y in range(len(labels))],
                    [_nan(rt[p].get(m)) for m in labels], width, label=p)  # fmt: skip
        ax.set_yticks([y + 0.4 - width / 2 for y in range(len(labels))], labels, fontsize=8)
        ax.axvline(1, color="black", linewidth=0.8)
        ax.set_xscale("log")
        ax.set_xlabel("ratio (log scale; > 1: jupyter-embedproxy is faster)")
        ax.set_title("Headline: jupyter-embedproxy / other, same run")
        ax.invert_yaxis()
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
        fig.tight_layout()
        fig.savefig(outdir / "ratios.png", dpi=100)
        plt.close(fig)
        images.insert(0, ("ratios.png", "Headline: jupyter-embedproxy / other, same run"))
    return images
