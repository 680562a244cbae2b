#!/usr/bin/env python3
"""Turns what bench/run recorded into the results file, its PNG plots and a summary on stdout.

    report.py TMPDIR RESULTS.md

TMPDIR holds meta.env, scenarios.tsv, results.tsv, rss.tsv, timeline.tsv, commands.tsv,
calibration.tsv, classes.tsv, tl/*.dat, stats-<scenario>-<tool>.json (lunfs's stats at the end
of each mount) and, with the micro-benchmarks, micro.json (see bench/run and
bench/lib/jobs.sh for their columns). Plots go beside RESULTS.md as
<stem>-capped.png, -uncapped.png, -random.png and -failover.png (those with data).
"""
import json
import os
import statistics
import subprocess
import sys

TOOLS = ["iscsi-perf", "qsd", "failover", "round-robin", "spread"]
TOOL_TITLES = {
    "iscsi-perf": "iscsi-perf",
    "qsd": "qsd FUSE",
    "failover": "lunfs failover",
    "round-robin": "lunfs round-robin",
    "spread": "lunfs spread",
    "qsd-null": "qsd FUSE, null device",
}
SCEN_TITLES = {
    "c1": "1 path, capped",
    "c2": "2 paths, capped",
    "c4": "4 paths, capped",
    "cu": "4 paths, unequal caps",
    "u1": "1 path, uncapped",
    "u4": "4 paths, uncapped",
    "fl": "FUSE floor",
}
CAPPED = ("c1", "c2", "c4", "cu")
# A single-path peer measured in another scenario stands in where it would see the same path.
BORROW = {"c2": "c1", "c4": "c1", "u4": "u1"}
SEQ = ["read:1M:1", "read:1M:8", "write:1M:1", "write:1M:8"]
RAND = ["randread:4k:1", "randread:4k:16", "randwrite:4k:1", "randwrite:4k:16"]


def read_tsv(path):
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n").split("\t") for line in f if line.strip()]


def num(s):
    try:
        return float(s)
    except (TypeError, ValueError):
        return None


def median(values):
    v = [x for x in values if x is not None]
    return statistics.median(v) if v else None


def fmt(v, digits=1):
    return "-" if v is None else f"{v:.{digits}f}"


def ratio(a, b):
    return None if a is None or not b else a / b


def wl_title(wl):
    rw, bs, qd, *size = wl.split(":")
    return f"{rw} {bs} QD{qd}" + (f" over the first {size[0]}" if size else "")


class Data:
    def __init__(self, tmp):
        self.tmp = tmp
        self.meta = {}
        with open(os.path.join(tmp, "meta.env"), encoding="utf-8") as f:
            for line in f:
                k, _, v = line.rstrip("\n").partition("=")
                self.meta[k] = v
        rows = read_tsv(os.path.join(tmp, "scenarios.tsv"))[1:]
        self.scenarios = {r[0]: {"paths": r[1], "caps": r[2], "limit": num(r[3]) or None}
                          for r in rows}
        self.order = [r[0] for r in rows]
        # (scen, tool, wl) -> list of run dicts
        self.runs = {}
        for r in read_tsv(os.path.join(tmp, "results.tsv")):
            key = (r[0], r[1], r[3])
            self.runs.setdefault(key, []).append({
                "paths": r[2], "run": r[4], "mibs": num(r[5]), "iops": num(r[6]),
                "mean": num(r[7]), "p99": num(r[8]), "max": num(r[9]),
                "errors": int(num(r[10]) or 0), "cpu": num(r[12]), "tgtd": num(r[13]),
                "cmd": r[14], "shares": r[15] if len(r) > 15 else "-",
                "wire": r[16] if len(r) > 16 else "-"})
        self.rss = read_tsv(os.path.join(tmp, "rss.tsv"))
        self.timeline = read_tsv(os.path.join(tmp, "timeline.tsv"))
        self.failover = read_tsv(os.path.join(tmp, "failover.tsv"))
        self.commands = read_tsv(os.path.join(tmp, "commands.tsv"))
        self.calibration = read_tsv(os.path.join(tmp, "calibration.tsv"))
        self.classes = read_tsv(os.path.join(tmp, "classes.tsv"))

    def cell(self, scen, tool, wl, field="mibs"):
        """(median, runs, borrowed-from) of a measurement, or (None, [], None)."""
        src = scen
        if (scen, tool, wl) not in self.runs and tool in ("qsd", "iscsi-perf"):
            src = BORROW.get(scen, scen)
        runs = self.runs.get((src, tool, wl), [])
        return median(r[field] for r in runs), runs, (src if src != scen else None)

    def tools_in(self, scen):
        return [t for t in TOOLS if any(self.cell(scen, t, wl)[1] for wl in SEQ + RAND)]


def spread_pct(runs, field="mibs"):
    v = [r[field] for r in runs if r[field] is not None]
    if len(v) < 2 or not statistics.median(v):
        return None
    return 100 * (max(v) - min(v)) / statistics.median(v)


def best_peer(d, scen, wl, field="mibs"):
    best, who = None, None
    for t in TOOLS:
        if t == "spread":
            continue
        v = d.cell(scen, t, wl, field)[0]
        if v is not None and v > 0 and (best is None or v > best):
            best, who = v, t
    return best, who


def throughput_table(d, scens, wls, field, unit):
    out = []
    tools = [t for t in TOOLS if any(d.cell(s, t, w, field)[1] for s in scens for w in wls)]
    if not tools:
        return out, tools
    head = ["scenario", "caps MiB/s", "limit", "I/O"] + [TOOL_TITLES[t] for t in tools]
    head += ["spread ÷ limit", "spread ÷ best peer", "best peer", "spread run-to-run",
             "spread's LUN bytes ÷ fio bytes"]
    out.append("| " + " | ".join(head) + " |")
    out.append("| " + " | ".join(["---"] * 4 + ["---:"] * (len(tools) + 3) + ["---", "---:"]) + " |")
    for s in scens:
        meta = d.scenarios.get(s)
        if not meta:
            continue
        for wl in wls:
            cells = []
            any_value = False
            for t in tools:
                v, runs, borrowed = d.cell(s, t, wl, field)
                any_value |= bool(runs)
                digits = 0 if field == "iops" else 1
                text = fmt(v, digits)
                if borrowed and v is not None:
                    text += f" ({borrowed})"
                if any(r["errors"] for r in runs):
                    text += " **errors**"
                cells.append(text)
            if not any_value:
                continue
            sp, sp_runs, _ = d.cell(s, "spread", wl, field)
            limit = meta["limit"] if field == "mibs" else None
            bp, who = best_peer(d, s, wl, field)
            jitter = spread_pct(sp_runs, field)
            row = [f"{s}: {SCEN_TITLES[s]}", meta["caps"], fmt(meta["limit"], 0) if meta["limit"] else "-",
                   wl_title(wl)] + cells
            wire = median(num(r.get("wire")) for r in sp_runs)
            row += [fmt(ratio(sp, limit), 2), fmt(ratio(sp, bp), 2),
                    TOOL_TITLES.get(who, "-"), "-" if jitter is None else f"±{jitter / 2:.0f}%",
                    fmt(wire, 2)]
            out.append("| " + " | ".join(row) + " |")
    return out, tools


def goals(d):
    rows = []

    def add(goal, measured, target, met):
        rows.append(f"| {goal} | {measured} | {target} | {'yes' if met else '**no**'} |")

    for wl in SEQ:
        v = d.cell("c4", "spread", wl)[0]
        if v is None:
            continue
        lim = d.scenarios["c4"]["limit"]
        q = d.cell("c4", "qsd", wl)[0]
        add(f"4 × 50 MiB/s, {wl_title(wl)}", f"{v:.1f} MiB/s = {ratio(v, lim):.2f} of limit, "
            f"{fmt(ratio(v, q), 2)}× qsd", "≥ 190 MiB/s, ≥ 0.95, ≥ 3.8×",
            v >= 190 and ratio(v, lim) >= 0.95 and (ratio(v, q) or 0) >= 3.8)
    for wl in SEQ:
        v = d.cell("cu", "spread", wl)[0]
        if v is not None:
            add(f"unequal caps {d.scenarios['cu']['caps']}, {wl_title(wl)}", f"{v:.1f} MiB/s",
                "≥ 180 MiB/s", v >= 180)
    for wl in SEQ + RAND:
        field = "mibs" if wl in SEQ else "iops"
        v, q = d.cell("u1", "spread", wl, field)[0], d.cell("u1", "qsd", wl, field)[0]
        if v is None or q is None:
            continue
        unit = "MiB/s" if field == "mibs" else "IOPS"
        add(f"1 path uncapped, {wl_title(wl)}", f"{v:.{1 if field == 'mibs' else 0}f} {unit} = "
            f"{fmt(ratio(v, q), 2)}× qsd", "≥ 1.0× qsd", (ratio(v, q) or 0) >= 1.0)
    for kind, limit in (("drop", 1000), ("reset", 200)):
        runs = [r for r in d.timeline if r[0] == "spread" and r[1] == kind]
        if not runs:
            continue
        worst = median(num(r[5]) for r in runs)
        errors = sum(int(num(r[10]) or 0) + int(num(r[11]) or 0) for r in runs)
        add(f"failover, one of 4 paths {'black-holed' if kind == 'drop' else 'reset'}, spread",
            f"worst I/O {worst:.0f} ms (median), {errors} errors",
            f"≤ {limit / 1000:g} s, 0 errors", worst <= limit and errors == 0)
    # failover.tsv: fence, kind, run, longest I/O ms, ios, errors, mode, fences, resets, command
    for kind, limit in (("drop", 1000), ("reset", 200)):
        runs = [r for r in d.failover if r[0] == "auto" and r[1] == kind]
        if not runs:
            continue
        worst = max(num(r[3]) for r in runs)
        errors = sum(int(num(r[5]) or 0) for r in runs)
        add(f"failover latency, one of 4 paths {'black-holed' if kind == 'drop' else 'reset'}, "
            f"random verified writes 4 KiB-256 KiB, 4 jobs × QD16, uncapped, --fence auto",
            f"longest I/O {worst:.0f} ms (worst of {len(runs)}), {errors} errors",
            f"≤ {limit / 1000:g} s, 0 errors", worst <= limit and errors == 0)
    peak = [int(r[3]) for r in d.rss if r[1] in ("spread", "round-robin", "failover")]
    cache = int(num(d.meta.get("cache_mib")) or 0)
    if peak:
        add(f"lunfs peak RSS ({cache} MiB cache per LUN configured)", f"{max(peak) / 1024:.1f} MiB",
            f"≤ 64 + {cache} MiB", max(peak) <= (64 + cache) * 1024)
    if not rows:
        return []
    return ["| goal | measured | target | met |", "| --- | --- | --- | --- |"] + rows


def timeline_table(d):
    if not d.timeline:
        return []
    out = ["| policy | fault on path 1 | runs | worst I/O latency ms (median; runs) | "
           "longest without I/O ms | MiB/s before / during / after | fio errors | "
           "failed requests / retries / resets / path failures | command |",
           "| --- | --- | ---: | --- | ---: | --- | ---: | --- | ---: |"]
    groups = {}
    for r in d.timeline:
        groups.setdefault((r[0], r[1]), []).append(r)
    for (policy, kind), runs in groups.items():
        worst = [num(r[5]) for r in runs]
        gap = median(num(r[6]) for r in runs)
        phases = " / ".join(fmt(median(num(r[i]) for r in runs), 0) for i in (7, 8, 9))
        errors = sum(int(num(r[10]) or 0) for r in runs)
        eng = " / ".join(str(sum(int(num(r[i]) or 0) for r in runs)) for i in (11, 12, 13, 14))
        out.append(f"| {policy} | {'black hole (drop)' if kind == 'drop' else 'reset'} | "
                   f"{len(runs)} | {fmt(median(worst), 0)}; {', '.join(fmt(w, 0) for w in worst)} | "
                   f"{fmt(gap, 0)} | {phases} | {errors} | {eng} | {runs[0][15]} |")
    return out


def failover_table(d):
    if not d.failover:
        return []
    out = ["| --fence | fault on path 1 | runs | longest I/O ms (worst; runs) | I/Os | fio errors | "
           "fence mode | fences confirmed | path resets | command |",
           "| --- | --- | ---: | --- | ---: | ---: | --- | ---: | ---: | ---: |"]
    groups = {}
    for r in d.failover:
        groups.setdefault((r[0], r[1]), []).append(r)
    for (fence, kind), runs in groups.items():
        worst = [num(r[3]) for r in runs]
        out.append(f"| {fence} | {'black hole (drop)' if kind == 'drop' else 'reset'} | "
                   f"{len(runs)} | {fmt(max(worst), 0)}; {', '.join(fmt(w, 0) for w in worst)} | "
                   f"{sum(int(num(r[4]) or 0) for r in runs)} | "
                   f"{sum(int(num(r[5]) or 0) for r in runs)} | {runs[0][6]} | "
                   f"{sum(int(num(r[7]) or 0) for r in runs)} | "
                   f"{sum(int(num(r[8]) or 0) for r in runs)} | {runs[0][9]} |")
    return out


def cpu_table(d):
    out = ["| scenario | tool | I/O | MiB/s | daemon CPU (% of a core) | CPU s per GiB | "
           "tgtd CPU (% of a core) |", "| --- | --- | --- | ---: | ---: | ---: | ---: |"]
    for s in d.order:
        for t in ("qsd", "spread", "round-robin"):
            for wl in SEQ + RAND:
                runs = d.runs.get((s, t, wl))
                if not runs or not s.startswith("u"):
                    continue
                mibs = median(r["mibs"] for r in runs)
                cpu = median(r["cpu"] for r in runs)
                per_gib = None if not mibs or cpu is None else (cpu / 100) / (mibs / 1024)
                out.append(f"| {s} | {TOOL_TITLES[t]} | {wl_title(wl)} | {fmt(mibs)} | {fmt(cpu, 0)} | "
                           f"{fmt(per_gib, 2)} | {fmt(median(r['tgtd'] for r in runs), 0)} |")
    return out if len(out) > 2 else []


def rss_table(d):
    peak = {}
    for s, tool, paths, kib, _ in d.rss:
        if s == "cache":
            continue  # in the cache's own table, beside each mount's --cache-size
        key = (TOOL_TITLES.get(tool, tool), paths)
        peak[key] = max(peak.get(key, 0), int(kib))
    out = ["| daemon | paths | peak RSS (VmHWM) MiB |", "| --- | ---: | ---: |"]
    for (tool, paths), kib in sorted(peak.items()):
        out.append(f"| {tool} | {paths} | {kib / 1024:.1f} |")
    return out if peak else []


def micro_table(d):
    path = d.meta.get("micro")
    if not path or not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    out = ["| benchmark | time per iteration | CPU per iteration | items/s |",
           "| --- | ---: | ---: | ---: |"]
    for b in doc.get("benchmarks", []):
        if b.get("run_type") == "aggregate":
            continue
        unit = b.get("time_unit", "ns")
        ips = b.get("items_per_second")
        out.append(f"| `{b['name']}` | {b['real_time']:.1f} {unit} | {b['cpu_time']:.1f} {unit} | "
                   f"{'-' if ips is None else f'{ips / 1e6:.2f} M'} |")
    return out


def shares_table(d):
    """Where spread put the bytes on capped paths, against each path's share of the limit."""
    out = ["| scenario | caps MiB/s | caps as shares % | I/O | spread's shares % (each run) | MiB/s |",
           "| --- | --- | --- | --- | --- | ---: |"]
    for s in d.order:
        meta = d.scenarios[s]
        if s not in CAPPED or meta["paths"] == "1":
            continue
        caps = [float(c) for c in meta["caps"].split("/")]
        ideal = "/".join(f"{100 * c / sum(caps):.0f}" for c in caps)
        for wl in SEQ:
            runs = d.runs.get((s, "spread", wl), [])
            if runs:
                out.append(f"| {s} | {meta['caps']} | {ideal} | {wl_title(wl)} | "
                           f"{', '.join(r['shares'] for r in runs)} | "
                           f"{', '.join(fmt(r['mibs']) for r in runs)} |")
    return out if len(out) > 2 else []


def qd1_spread(d, wls):
    """(scenario, its meta, workload, spread's median) of every capped scenario with a limit."""
    for s in d.order:
        meta = d.scenarios[s]
        if s not in CAPPED or not meta["limit"]:
            continue
        for wl in wls:
            v = d.cell(s, "spread", wl)[0]
            if v is not None:
                yield s, meta, wl, v


def serial_ceiling(limit, cost):
    """MiB/s of a stream of 1 MiB requests, one at a time, each paying its transfer at `limit`
    MiB/s plus `cost` seconds that overlap none of it."""
    return 1 / (1 / limit + cost)


def serial_table(d):
    """One request at a time: each pays its transfer at the limit plus what a request costs with
    the caps lifted (spread at QD1 on the same paths uncapped), if none of that overlaps."""
    out = ["| scenario | I/O | limit | spread uncapped, same paths | estimate | measured | "
           "measured ÷ estimate |", "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for s, meta, wl, v in qd1_spread(d, ("read:1M:1", "write:1M:1")):
        ref = "u1" if meta["paths"] == "1" else "u4"
        u = d.cell(ref, "spread", wl)[0]
        if u is None or meta["paths"] not in ("1", d.scenarios.get(ref, {}).get("paths")):
            continue
        est = serial_ceiling(meta["limit"], 1 / u)
        out.append(f"| {s} | {wl_title(wl)} | {meta['limit']:.0f} | {u:.1f} ({ref}) | {est:.1f} | "
                   f"{v:.1f} | {v / est:.2f} |")
    return out if len(out) > 2 else []


def floor_table(d):
    """One write at a time through a FUSE file whose daemon does nothing with it (qsd over a
    null device): a write of a capped stream pays its transfer at the limit plus that, unless
    the two overlap."""
    out = ["| scenario | I/O | limit | per request, null device | ceiling | "
           "spread measured | measured ÷ ceiling |", "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    iops = d.cell("fl", "qsd-null", "write:1M:1", "iops")[0]
    if not iops:
        return []
    for s, meta, wl, v in qd1_spread(d, ("write:1M:1",)):
        ceiling = serial_ceiling(meta["limit"], 1 / iops)
        out.append(f"| {s} | {wl_title(wl)} | {meta['limit']:.0f} | {1e6 / iops:.0f} µs | "
                   f"{ceiling:.1f} | {v:.1f} | {v / ceiling:.2f} |")
    return out if len(out) > 2 else []


def cache_title(tool):
    """A cache scenario's tool, MODE-SIZE or none: "read, 64 MiB", "none"."""
    mode, _, mib = tool.partition("-")
    return f"{mode}, {mib} MiB" if mib else mode


def cache_held_mib(d, tool):
    """What the mount's cache held when its I/O was done (its .lunfs/stats), in MiB."""
    try:
        with open(os.path.join(d.tmp, f"stats-cache-{tool}.json"), encoding="utf-8") as f:
            luns = json.load(f).get("luns", [])
        return sum(int(lun["cache"]["cached_bytes"]) for lun in luns) / (1 << 20)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def cache_mounts(d):
    """The cache scenario's mounts (tools) and workloads, in the order they ran."""
    keys = [k for k in d.runs if k[0] == "cache"]
    return list(dict.fromkeys(t for _, t, _ in keys)), list(dict.fromkeys(w for _, _, w in keys))


def cache_table(d):
    """The same workloads on a mount per cache mode, each against the mount without a cache."""
    tools, wls = cache_mounts(d)
    if not tools:
        return []
    others = [t for t in tools if t != "none"] if "none" in tools else []
    names = " / ".join(cache_title(t) for t in tools)
    head = ["I/O", "unit"] + [cache_title(t) for t in tools]
    head += [f"{cache_title(t)} ÷ none" for t in others]
    head += [f"LUN bytes ÷ fio bytes ({names})", f"daemon CPU % of a core ({names})"]
    out = ["| " + " | ".join(head) + " |",
           "| " + " | ".join(["---"] * 2 + ["---:"] * (len(tools) + len(others)) + ["---:"] * 2) + " |"]
    for wl in wls:
        field = "iops" if wl.startswith("rand") else "mibs"
        values, cells, wire, cpu = {}, [], [], []
        for t in tools:
            values[t], runs, _ = d.cell("cache", t, wl, field)
            text = fmt(values[t], 0 if field == "iops" else 1)
            if any(r["errors"] for r in runs):
                text += " **errors**"
            cells.append(text)
            wire.append(fmt(median(num(r["wire"]) for r in runs), 2))
            cpu.append(fmt(median(r["cpu"] for r in runs), 0))
        cells += [fmt(ratio(values[t], values["none"]), 2) for t in others]
        row = [wl_title(wl), "IOPS" if field == "iops" else "MiB/s"] + cells
        row += [" / ".join(wire), " / ".join(cpu)]
        out.append("| " + " | ".join(row) + " |")
    return out


def cache_memory_table(d):
    """Each cache mount's peak RSS beside its --cache-size."""
    tools, wls = cache_mounts(d)
    peak = {r[1]: int(r[3]) for r in d.rss if r[0] == "cache"}
    if not peak:
        return []
    out = ["| mount | `--cache-size` MiB | I/O it ran | peak RSS (VmHWM) MiB | "
            "over none's MiB | cache held at the end MiB |",
            "| --- | ---: | --- | ---: | ---: | ---: |"]
    for t in tools:
        if t not in peak:
            continue
        mode, _, mib = t.partition("-")
        ran = [w for w in wls if ("cache", t, w) in d.runs]
        what = "every I/O above" if ran == wls else ", ".join(wl_title(w) for w in ran)
        over = None if t == "none" or "none" not in peak else (peak[t] - peak["none"]) / 1024
        out.append(f"| {mode} | {mib or '-'} | {what} | {peak[t] / 1024:.1f} | {fmt(over)} | "
                   f"{fmt(cache_held_mib(d, t))} |")
    return out


def per_run_table(d):
    out = ["| scenario | tool | paths | I/O | run | MiB/s | IOPS | mean ms | p99 ms | max ms | "
           "errors | daemon CPU % | tgtd CPU % | path shares % | LUN bytes ÷ fio bytes | command |",
           "| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |"]
    for (s, t, wl), runs in d.runs.items():
        for r in runs:
            out.append(f"| {s} | {t} | {r['paths']} | {wl_title(wl)} | {r['run']} | {fmt(r['mibs'])} | "
                       f"{fmt(r['iops'], 0)} | {fmt(r['mean'], 2)} | {fmt(r['p99'], 2)} | "
                       f"{fmt(r['max'], 1)} | {r['errors']} | {fmt(r['cpu'], 0)} | "
                       f"{fmt(r['tgtd'], 0)} | {r['shares']} | {r['wire']} | {r['cmd']} |")
    return out


# --- plots ----------------------------------------------------------------------------------------

def gnuplot(script, where):
    try:
        r = subprocess.run(["gnuplot"], input=script, text=True, capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        print(f"report: gnuplot failed for {where}: {e}", file=sys.stderr)
        return False
    if r.returncode != 0:
        print(f"report: gnuplot failed for {where}: {r.stderr.strip().splitlines()[-1:]}",
              file=sys.stderr)
        return False
    return True


def bar_plot(d, scens, wls, field, png, title, ylabel):
    tools = [t for t in TOOLS if any(d.cell(s, t, w, field)[1] for s in scens for w in wls)]
    groups = []
    for s in scens:
        if s not in d.scenarios:
            continue
        for wl in wls:
            vals = [d.cell(s, t, wl, field)[0] for t in tools]
            if all(v is None for v in vals):
                continue
            limit = d.scenarios[s]["limit"] if field == "mibs" else None
            rw, bs, qd = wl.split(":")
            label = f"{s} {rw.replace('rand', 'r')} QD{qd}"
            groups.append((label, limit, vals))
    if not groups or not tools:
        return False
    dat = png[:-4] + ".dat"
    with open(dat, "w", encoding="utf-8") as f:
        f.write("# group limit " + " ".join(tools) + "\n")
        for label, limit, vals in groups:
            f.write(f'"{label}" {fmt(limit, 0)} ' + " ".join(fmt(v) for v in vals) + "\n")
    has_limit = any(g[1] for g in groups)
    cols = []
    if has_limit:
        cols.append("using 2 title 'limit (sum of caps)' fs solid 0.25 lc rgb '#b0b0b0'")
    palette = {"iscsi-perf": "#8c8c8c", "qsd": "#e69f00", "failover": "#56b4e9",
               "round-robin": "#0072b2", "spread": "#009e73"}
    for i, t in enumerate(tools):
        first = "using 3:xtic(1)" if i == 0 else f"using {3 + i}"
        if i == 0 and not has_limit:
            first = "using 3:xtic(1)"
        cols.append(f"{first} title '{TOOL_TITLES[t]}' fs solid 0.85 lc rgb '{palette[t]}'")
    if has_limit:
        cols[0] = cols[0].replace("using 2 ", "using 2:xtic(1) ")
        cols[1] = cols[1].replace("using 3:xtic(1)", "using 3")
    width = min(1600, max(900, 20 * len(groups) * (len(cols) + 1)))
    top = max([v for _, lim, vals in groups for v in vals + [lim] if v] or [1]) * 1.12
    script = f"""
set terminal pngcairo size {width},560 font 'DejaVu Sans,10'
set output '{png}'
set title "{title}"
set ylabel '{ylabel}'
set style data histograms
set style histogram clustered gap 1
set boxwidth 0.9
set key below horizontal
set grid ytics
set xrange [-0.6:{len(groups) - 0.4}]
set yrange [0:{top:.0f}]
set xtics rotate by -30
set datafile missing '-'
plot '{dat}' {', "" '.join(cols)}
"""
    ok = gnuplot(script, png)
    os.remove(dat)
    return ok


def failover_plot(d, png):
    """One panel per fault; per policy the run with the median worst latency."""
    if not d.timeline:
        return False
    chosen = {}
    for r in d.timeline:
        chosen.setdefault((r[1], r[0]), []).append(r)
    colors = {"spread": "#009e73", "failover": "#56b4e9", "round-robin": "#0072b2"}
    panels = []
    for kind, label in (("drop", "black-holed"), ("reset", "reset")):
        lines, on, off = [], None, None
        for (k, policy), runs in chosen.items():
            if k != kind:
                continue
            runs.sort(key=lambda r: num(r[5]) or 0)
            r = runs[len(runs) // 2]
            dat = os.path.join(d.tmp, "tl", f"{policy}-{kind}-{r[2]}.dat")
            if not os.path.exists(dat):
                continue
            on, off = num(r[3]), num(r[4])
            lines.append(f"'{dat}' using 1:4 with steps lw 1.5 lc rgb '{colors.get(policy, '#000')}' "
                         f"title 'lunfs {policy} (worst I/O {fmt(num(r[5]), 0)} ms)'")
        if lines:
            panels.append(f"""
set title "path 1 {label} from {on:.1f} s to {off:.1f} s (shaded), then healed"
set object 1 rect from {on},graph 0 to {off},graph 1 fc rgb '#f4cccc' fs solid 0.4 noborder behind
plot {', '.join(lines)}
unset object 1
""")
    if not panels:
        return False
    script = f"""
set terminal pngcairo size 1000,{360 * len(panels) + 40} font 'DejaVu Sans,10'
set output '{png}'
set multiplot layout {len(panels)},1 title "One stream over 4 paths capped at 50 MiB/s: fio 1 MiB, QD8, half reads, half writes; MiB/s per 100 ms"
set xlabel 'seconds'
set ylabel 'MiB/s (read + write)'
set grid
set yrange [0:*]
set key below horizontal
{''.join(panels)}
unset multiplot
"""
    return gnuplot(script, png)


# --- the document ---------------------------------------------------------------------------------

def document(d, plots, stem):
    m = d.meta
    out = [f"# lunfs against its peers, {m['day']}", "",
           f"{m['when']}; {m['machine']}  ", f"{m['versions']}", "",
           f"`{m['invocation']}`: {m['elapsed']} s", ""]
    if m.get("lunfs_defaults"):
        out += [f"lunfs mounts with its defaults but for `--policy`: {m['lunfs_defaults']}.", ""]
    turns = ""
    if "u1" in d.scenarios:
        turns = (f"in u1, where they come out close, lunfs and qsd run {m.get('turns', m['runs'])} "
                 "time(s) each, taking turns. ")
    out += [
        "One lab (tgtd on loopback, one portal per path, one 2 GiB LUN of 512 B blocks), every "
        "portal capped in both directions with htb on `lo`. Each figure is the median of "
        f"{m['runs']} run(s) of fio (libaio, `O_DIRECT`, time-based, {m['runtime']} s"
        f"{'' if m['ramp'] == '0' else ' after a ' + m['ramp'] + ' s ramp'}) on the file each tool exports, or of iscsi-perf (reads only) on the LUN itself; "
        f"{turns}"
        "MiB/s and IOPS are fio's. *limit* is the sum of the caps of the paths used; *best peer* "
        "is the fastest of iscsi-perf, qsd (qemu-storage-daemon's libiscsi driver with its FUSE "
        "export), lunfs failover and lunfs round-robin in that row; a value marked (c1) or (u1) "
        "is that single-path peer as measured in scenario c1 or u1, on the same path at the same "
        "cap (it cannot use a second path). *run-to-run* is half the range of spread's runs "
        "over their median. *LUN bytes ÷ fio bytes* is what lunfs's paths moved (`.lunfs/stats`) "
        "over what fio moved: under 1 when lunfs's block cache served reads again, over 1 when "
        "its readahead fetched more than was read.", ""]
    g = goals(d)
    if g:
        out += ["## Goals", ""] + g + [""]
    seq, _ = throughput_table(d, [s for s in d.order if s in CAPPED], SEQ, "mibs", "MiB/s")
    if seq:
        out += ["## Sequential 1 MiB, one stream, capped paths (MiB/s)", ""]
        if "capped" in plots:
            out += [f"![capped]({os.path.basename(plots['capped'])})", ""]
        out += seq + [""]
        sh = shares_table(d)
        if sh:
            out += ["Where spread put the bytes (each path's share of what lunfs moved in the run, "
                    "from `.lunfs/stats`), against each path's share of the limit:", ""] + sh + [""]
        st = serial_table(d)
        if st:
            out += ["At QD1 each request waits for the one before. If what a request costs "
                    "besides the wire (spread's time per request with the caps lifted, same "
                    "paths) overlapped none of the transfer, a stream would reach "
                    "1 / (1/limit + 1/uncapped):", ""] + st + [""]
        ft = floor_table(d)
        if ft:
            out += ["What a request costs when the daemon behind the FUSE file does nothing with "
                    "it (fio, the kernel's FUSE, and qemu-storage-daemon exporting a null device: "
                    "no iSCSI, no network). Were none of it to overlap the transfer, no gateway "
                    "behind a FUSE file, however fast it and its target, would take a "
                    "write-at-a-time stream past 1 / (1/limit + that cost), the ceiling below "
                    "(htb on `lo` lets a path send a packet before paying for it, so some of it "
                    "can overlap here; reads are left out, readahead overlaps them):", ""] + ft + [""]
    useq, _ = throughput_table(d, [s for s in d.order if s.startswith("u")], SEQ, "mibs", "MiB/s")
    if useq:
        out += ["## Sequential 1 MiB, caps lifted (MiB/s): the CPU-bound case on this machine", ""]
        if "uncapped" in plots:
            out += [f"![uncapped]({os.path.basename(plots['uncapped'])})", ""]
        out += useq + [""]
    rnd, _ = throughput_table(d, [s for s in d.order if s.startswith("u")], RAND, "iops", "IOPS")
    if rnd:
        out += ["## Random 4 KiB, caps lifted (IOPS)", ""]
        if "random" in plots:
            out += [f"![random]({os.path.basename(plots['random'])})", ""]
        out += rnd + [""]
    ct = cache_table(d)
    if ct:
        meta = d.scenarios.get("cache", {})
        whole = any(w.startswith("rand") and w.count(":") == 2 for w in cache_mounts(d)[1])
        out += ["## Block cache", "",
                f"lunfs spread over {meta.get('paths', '?')} paths capped at "
                f"{meta.get('caps', '?')} MiB/s (limit {fmt(meta.get('limit'), 0)}), one mount "
                "per `--cache` mode (`--cache-size` as in the column, readahead at its default), "
                "each running the same workloads, runs interleaved across them. fio reads with "
                "`O_DIRECT`, so the kernel's page cache holds nothing: what is cached is in the "
                "daemon. A workload *over the first* part of the LUN comes, in each run, after an "
                "unmeasured pass that reads that part in order (fio, 128 KiB, QD1): lunfs keeps "
                "what it loads ahead of a stream, not what a random read missed."
                + (" The random reads over the whole LUN nearly all miss: they show what the "
                   "cache costs." if whole else "")
                + " *÷ none* is a mode over the mount without a cache; *LUN bytes ÷ fio bytes* is "
                "under 1 where reads were served from memory, over 1 where readahead fetched more "
                "than was read.", ""] + ct + [
                "", "Peak RSS (`VmHWM` of the daemon in `/proc/PID/status`) of each mount over "
                "everything it ran, beside its `--cache-size`; *over none's* is what it held "
                "beyond the mount without a cache; *cache held* is the cache's own count "
                "(`.lunfs/stats`) once its I/O was done.", ""] + cache_memory_table(d) + [""]
    tl = timeline_table(d)
    if tl:
        out += ["## Failover timeline", "",
                f"fio, one job: sequential 1 MiB, 50% reads, QD8, over every path at its cap; "
                f"path 1 black-holed (nft drop) or reset (nft reject with tcp reset) "
                f"{m['pre']} s after the start, for {m['hole']} s, then healed. A fresh mount per "
                "run. *Worst I/O latency* is the longest any request took (fio's max completion "
                "latency): the stall an application sees. *Longest without I/O* is read from the "
                "100 ms bandwidth log. The last column is lunfs's own count (`.lunfs/stats`).", ""]
        if "failover" in plots:
            out += [f"![failover]({os.path.basename(plots['failover'])})", ""]
        out += tl + [""]
    fo = failover_table(d)
    if fo:
        out += ["## Failover latency", "",
                f"fio, 4 jobs × QD16, random writes of 4 KiB to 256 KiB with crc32c verify, each "
                f"job on its own 256 MiB, over every path uncapped (`--cache none`); path 1 "
                f"black-holed (nft drop) or reset 3 s after the start, for {m['hole']} s. A fresh "
                "mount per run, once per `--fence` mode: `auto` is `reservation` on the lab's "
                "tgtd (the target confirms each fence), `timed` is the fence without the target "
                "(newer writes to a re-sent write's bytes wait for the path's new login or 3 s). "
                "*Longest I/O* is fio's max completion latency.", ""] + fo + [""]
    cpu = cpu_table(d)
    rss = rss_table(d)
    if cpu or rss:
        out += ["## CPU and memory", "",
                "CPU: utime + stime of the daemon (lunfs or qemu-storage-daemon) and of tgtd from "
                "fio's start to its exit, as a share of one core; CPU s per GiB is "
                "that share over the throughput. Both share this machine's cores with fio and "
                "the target.", ""]
        out += cpu + [""] + rss + [""]
    mt = micro_table(d)
    if mt:
        out += ["## Micro-benchmarks", "", "`build/bench/micro/lunfs_micro` (Google Benchmark):",
                ""] + mt + [""]
    if d.calibration:
        out += ["## Caps", "",
                f"htb on lo, per portal one class each way (tcp dport: to the target, sport: from "
                f"it), burst/cburst {m['burst']} B. Raw TCP through a class at each cap "
                f"(bench/lib/tcpcal.py, {m['cal_secs']} s), no iSCSI:", "",
                "| cap MiB/s | direction | measured MiB/s | ÷ cap |", "| ---: | --- | ---: | ---: |"]
        for c, direction, r in d.calibration:
            label = "client to server" if direction == "send" else "server to client"
            out.append(f"| {c} | {label} | {r} | {fmt(ratio(num(r), num(c)), 2)} |")
        out += ["", "What each portal's classes carried over the whole run:", "",
                "| path | port | to the target / from the target |", "| ---: | ---: | --- |"]
        out += [f"| {a} | {b} | {c} |" for a, b, c in d.classes] + [""]
    out += ["## Commands", "", "Setup, in order ($T is the run's temporary directory):", "", "```"]
    with open(os.path.join(d.tmp, "log.txt"), encoding="utf-8") as f:
        out += [line.rstrip("\n").replace(m["tmp"], "$T") for line in f]
    out += ["```", "", "Measurements (numbered as in the per-run table):", ""]
    out += [f"- [{i}] `{c}`" for i, c in d.commands] + [""]
    out += ["## Every run", ""] + per_run_table(d) + [""]
    return "\n".join(out)


def main():
    if len(sys.argv) != 3:
        print("usage: report.py TMPDIR RESULTS.md", file=sys.stderr)
        sys.exit(2)
    d = Data(sys.argv[1])
    results = sys.argv[2]
    stem = results[:-3] if results.endswith(".md") else results
    plots = {}
    capped = [s for s in d.order if s in CAPPED]
    uncapped = [s for s in d.order if s.startswith("u")]
    specs = [
        ("capped", capped, SEQ, "mibs", "Sequential 1 MiB, one stream, capped paths", "MiB/s"),
        ("uncapped", uncapped, SEQ, "mibs", "Sequential 1 MiB, caps lifted", "MiB/s"),
        ("random", uncapped, RAND, "iops", "Random 4 KiB, caps lifted", "IOPS"),
    ]
    for name, scens, wls, field, title, ylabel in specs:
        png = f"{stem}-{name}.png"
        if bar_plot(d, scens, wls, field, png, title, ylabel):
            plots[name] = png
    if failover_plot(d, f"{stem}-failover.png"):
        plots["failover"] = f"{stem}-failover.png"
    text = document(d, plots, stem)
    with open(results, "w", encoding="utf-8") as f:
        f.write(text)
    # The summary: goals and the main tables.
    for section in text.split("\n## ")[1:]:
        if section.startswith(("Goals", "Sequential", "Random", "Block cache", "Failover")):
            print("## " + "\n".join(l for l in section.splitlines() if not l.startswith("![")))
    print(f"results: {results}")
    for p in plots.values():
        print(f"plot: {p}")


if __name__ == "__main__":
    main()
