#!/usr/bin/env python3
"""plot.py - turns the benches' JSON (one object per file, as bench/*.c print it) into the SVG
charts of docs/benchmarks.md. Python 3 standard library only: the SVG is written by hand.

    bench/plot.py [--out DIR] FILE.json...      (default DIR: docs/img)

Each file's "bench" key picks its charts (dir-bench, cs-bench, storm-bench); a file of another
bench, or one missing the keys a chart needs, is reported and skipped, and the exit status is
then 1. Charts are deterministic (same JSON, same bytes), so regenerating them shows in git
only when the figures changed. The charts name their source file in a caption.
"""

import argparse
import json
import math
import os
import sys
from xml.sax.saxutils import escape

# Okabe-Ito colours: distinguishable with the common colour-vision deficiencies.
COLOURS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00"]
FONT = "font-family='DejaVu Sans,Helvetica,Arial,sans-serif'"


class ChartError(Exception):
    """The JSON lacks what a chart needs."""


def nice_ceiling(v):
    """The smallest 1, 2, 2.5 or 5 x 10^k at or above v (> 0): the axis's top."""
    if v <= 0:
        return 1.0
    e = math.floor(math.log10(v))
    for m in (1, 2, 2.5, 5, 10):
        top = m * 10**e
        if top >= v * (1 - 1e-9):
            return float(top)
    return float(10 ** (e + 1))


def fmt(v):
    """A value as people read it on an axis or a bar: 12k, 1.5M, 0.25."""
    a = abs(v)
    if a >= 1e6:
        s = "%.3gM" % (v / 1e6)
    elif a >= 1e4:
        s = "%.3gk" % (v / 1e3)
    elif a >= 100 or v == int(v):
        s = "%d" % round(v)
    elif a >= 1:
        s = "%.3g" % v
    else:
        s = "%.2g" % v
    return s


def text(x, y, s, size=12, anchor="start", weight="normal", extra=""):
    attrs = " ".join(a for a in (FONT, extra.strip()) if a)
    return "<text x='%.1f' y='%.1f' font-size='%d' text-anchor='%s' font-weight='%s' %s>%s</text>" % (
        x, y, size, anchor, weight, attrs, escape(str(s)))


def bar_chart(title, ylabel, groups, series, values, caption, note=None):
    """Grouped bars: `groups` along x (e.g. client counts), one bar per `series` in each;
    values[s][g] is a number or None (not measured: no bar, "n/a"). Returns the SVG text."""
    width, height = 640, 360
    left, right, top, bottom = 70, 20, 50, 90
    pw, ph = width - left - right, height - top - bottom
    known = [v for row in values for v in row if v is not None]
    if not known:
        raise ChartError("%s: no values" % title)
    ymax = nice_ceiling(max(known))
    out = ["<svg xmlns='http://www.w3.org/2000/svg' width='%d' height='%d' viewBox='0 0 %d %d'>"
           % (width, height, width, height),
           "<rect width='100%' height='100%' fill='white'/>",
           text(width / 2, 24, title, 15, "middle", "bold")]
    # y axis, 5 ticks, light grid
    for i in range(6):
        v = ymax * i / 5
        y = top + ph - ph * i / 5
        out.append("<line x1='%d' y1='%.1f' x2='%d' y2='%.1f' stroke='#ddd'/>" % (left, y, left + pw, y))
        tick = "%gk" % (v / 1000) if ymax >= 1e4 else fmt(v)  # one style along the axis
        out.append(text(left - 6, y + 4, tick, 11, "end"))
    out.append(text(16, top + ph / 2, ylabel, 12, "middle",
                    extra="transform='rotate(-90 16 %.1f)' " % (top + ph / 2)))
    out.append("<line x1='%d' y1='%d' x2='%d' y2='%d' stroke='#333'/>" % (left, top, left, top + ph))
    out.append("<line x1='%d' y1='%d' x2='%d' y2='%d' stroke='#333'/>"
               % (left, top + ph, left + pw, top + ph))
    gw = pw / len(groups)
    bw = gw * 0.8 / len(series)
    for g, name in enumerate(groups):
        gx = left + g * gw + gw * 0.1
        out.append(text(left + g * gw + gw / 2, top + ph + 18, name, 12, "middle"))
        for s in range(len(series)):
            v = values[s][g]
            x = gx + s * bw
            if v is None:
                out.append(text(x + bw / 2, top + ph - 4, "n/a", 10, "middle"))
                continue
            h = ph * v / ymax
            out.append("<rect x='%.1f' y='%.1f' width='%.1f' height='%.1f' fill='%s'><title>%s, %s: %s</title></rect>"
                       % (x + 1, top + ph - h, bw - 2, h, COLOURS[s % len(COLOURS)],
                          escape(series[s]), escape(str(name)), fmt(v)))
            out.append(text(x + bw / 2, top + ph - h - 3, fmt(v), 10, "middle"))
    # legend under the axis
    lx = left
    for s, name in enumerate(series):
        out.append("<rect x='%.1f' y='%d' width='12' height='12' fill='%s'/>"
                   % (lx, height - 52, COLOURS[s % len(COLOURS)]))
        out.append(text(lx + 16, height - 42, name, 12))
        lx += 28 + 7.5 * len(name)
    out.append(text(left, height - 20, caption, 10, extra="fill='#555' "))
    if note:
        out.append(text(left, height - 6, note, 10, extra="fill='#555' "))
    out.append("</svg>")
    return "\n".join(out) + "\n"


def need(d, *keys):
    """d[k1][k2]...; ChartError naming the path when it is missing."""
    for k in keys:
        if not isinstance(d, (dict, list)) or (isinstance(d, dict) and k not in d):
            raise ChartError("missing key %s" % ".".join(map(str, keys)))
        d = d[k]
    return d


def opt(d, *keys):
    """d[k1][k2]... or None when any is missing or null."""
    for k in keys:
        if not isinstance(d, dict) or d.get(k) is None:
            return None
        d = d[k]
    return d


def dir_bench(j, src):
    runs = need(j, "runs")
    groups = ["%s client%s" % (r["clients"], "" if r["clients"] == 1 else "s") for r in runs]
    cap = "dir-bench, %s s phases, %s CPUs (%s)" % (j.get("seconds"), j.get("cpus"), src)
    charts = {}
    charts["dir-bench-writes.svg"] = bar_chart(
        "Writes per second: Strata endpoint_add vs etcd put", "acknowledged writes/s", groups,
        ["Strata", "etcd"],
        [[opt(r, "strata", "writes_per_s") for r in runs], [opt(r, "etcd", "puts_per_s") for r in runs]],
        cap, "3 nodes each on loopback, closed-loop clients (docs/benchmarks.md)")
    charts["dir-bench-reads.svg"] = bar_chart(
        "Reads per second: Strata resolve vs etcd serializable get", "answered reads/s", groups,
        ["Strata", "etcd"],
        [[opt(r, "strata", "reads_per_s") for r in runs], [opt(r, "etcd", "gets_per_s") for r in runs]],
        cap, "3 nodes each on loopback, closed-loop clients (docs/benchmarks.md)")
    charts["dir-bench-write-latency.svg"] = bar_chart(
        "Write latency as the client sees it", "ms", groups,
        ["Strata p50", "Strata p99", "etcd p50", "etcd p99"],
        [[opt(r, "strata", "write_p50_ms") for r in runs], [opt(r, "strata", "write_p99_ms") for r in runs],
         [opt(r, "etcd", "put_p50_ms") for r in runs], [opt(r, "etcd", "put_p99_ms") for r in runs]],
        cap)
    fo, efo = opt(j, "failover_ms", "samples"), opt(j, "etcd_failover_ms", "samples")
    if fo or efo:
        n = max(len(fo or []), len(efo or []))
        pad = lambda xs: [(xs[i] if xs is not None and i < len(xs) else None) for i in range(n)]
        charts["dir-bench-failover.svg"] = bar_chart(
            "Failover: kill -9 of the leader to the first acknowledged write", "ms",
            ["#%d" % (i + 1) for i in range(n)], ["Strata", "etcd"], [pad(fo), pad(efo)], cap,
            "median: Strata %s ms, etcd %s ms" % (fmt(opt(j, "failover_ms", "median") or 0),
                                                 fmt(opt(j, "etcd_failover_ms", "median") or 0)))
    return charts


def cs_bench(j, src):
    cap = "cs-bench (%s)" % src
    cr = need(j, "cached_resolve")
    charts = {}
    charts["cs-bench-cached-resolve.svg"] = bar_chart(
        "Cached resolutions per second: strata-csd vs a bare NNG echo", "answers/s",
        ["1 client", "64 clients"], ["strata-csd", "NNG echo (same message size)"],
        [[need(cr, "clients_1", "cs_per_s"), need(cr, "clients_64", "cs_per_s")],
         [need(cr, "clients_1", "echo_per_s"), need(cr, "clients_64", "echo_per_s")]],
        cap, "target: csd at least %s of the echo" % cr.get("target_ratio", "0.7"))
    ml, cv = need(j, "miss_latency_us"), need(j, "convergence_ms")
    charts["cs-bench-latency.svg"] = bar_chart(
        "Misses through to the directory, and convergence of a move", "ms",
        ["miss, client", "miss, csd alone", "directory direct", "move to %s agents" % cv.get("agents")],
        ["p50", "p99"],
        [[need(ml, "p50") / 1000, need(ml, "server_p50") / 1000, need(ml, "directory_direct_p50") / 1000,
          need(cv, "p50")],
         [need(ml, "p99") / 1000, need(ml, "server_p99") / 1000, need(ml, "directory_direct_p99") / 1000,
          need(cv, "p99")]],
        cap, "targets: miss p99 %s ms, convergence p99 %s ms" % (
            fmt(ml.get("target_p99", 2000) / 1000), fmt(cv.get("target_p99", 100))))
    return charts


def storm_bench(j, src):
    modes = [m for m in ("plaintext", "tls") if isinstance(j.get(m), dict)]
    if not modes:
        raise ChartError("neither plaintext nor tls storms")
    storms = [need(j, m, "storms") for m in modes]
    n = max(len(s) for s in storms)
    vals = [[((s[i] or {}).get("parked_ms") if i < len(s) else None) for i in range(n)] for s in storms]
    return {"storm-bench-parked.svg": bar_chart(
        "Reconnect storm: %s agents registered and parked again" % j.get("agents"), "ms after the new server listens",
        ["storm %d" % (i + 1) for i in range(n)], modes, vals,
        "storm-bench (%s)" % src, "target: %s ms" % fmt(j.get("target_ms") or 0))}


PLOTTERS = {"dir-bench": dir_bench, "cs-bench": cs_bench, "storm-bench": storm_bench}


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out", default=os.path.relpath(os.path.join(here, "..", "docs", "img")))
    ap.add_argument("files", nargs="+", metavar="FILE.json")
    a = ap.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    failed = 0
    for path in a.files:
        try:
            with open(path, encoding="utf-8") as f:
                j = json.load(f)
            kind = j.get("bench") if isinstance(j, dict) else None
            if kind not in PLOTTERS:
                raise ChartError("unknown bench %r (known: %s)" % (kind, ", ".join(sorted(PLOTTERS))))
            charts = PLOTTERS[kind](j, os.path.basename(path))
        except (OSError, ValueError, ChartError, KeyError, TypeError) as e:
            print("plot.py: %s: %s: skipped" % (path, e), file=sys.stderr)
            failed += 1
            continue
        for name, svg in sorted(charts.items()):
            with open(os.path.join(a.out, name), "w", encoding="utf-8") as f:
                f.write(svg)
            print(os.path.join(a.out, name))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
