#!/usr/bin/env python3
"""Reads what the measuring tools wrote and prints one line of numbers (sourced by bench/run).

    parse.py fio JSON
        MiB/s IOPS mean_ms p99_ms max_ms errors bytes  (all jobs, reads and writes together)
    parse.py iscsi-perf OUTPUT BYTES_PER_IO
        MiB/s IOPS  (from the last "iops average N" iscsi-perf printed)
    parse.py timeline JSON BWLOG START ON OFF OUT.dat
        worst_ms longest_zero_ms before_mibps during_mibps after_mibps errors
        from fio's JSON and its bandwidth log (written with --log_unix_epoch=1); START, ON and OFF
        are the Unix times (s) at which fio was started and the fault put on and taken off.
        Writes OUT.dat: seconds since START, MiB/s read, write, total; one line per 100 ms.
    parse.py lunfs-stats STATS_JSON
        failed_requests retries resets path_failures (summed over LUNs and paths)
    parse.py shares BEFORE_JSON AFTER_JSON
        each path's share of the bytes read and written between two lunfs stats snapshots, in
        percent, in path order (25/25/25/25), then the bytes all paths moved
Exits 1 with a one-line message on stderr when the input is not what it should be.
"""
import json
import re
import sys

MIB = 1 << 20


def die(msg):
    print(f"parse: {msg}", file=sys.stderr)
    sys.exit(1)


def load_json(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError as e:
        die(f"cannot read {path}: {e.strerror}")
    # fio may print warnings before its JSON document.
    start = text.find("{")
    if start < 0:
        die(f"{path}: no JSON in it")
    try:
        return json.loads(text[start:])
    except json.JSONDecodeError as e:
        die(f"{path}: bad JSON ({e.msg})")


def fio_totals(doc):
    """Sums the read and write sides of every job."""
    jobs = doc.get("jobs") or die("fio JSON without jobs")
    io_bytes = runtime_ms = ios = errors = 0
    lat_sum_ns = 0.0
    lat_max_ns = p99_ns = 0.0
    for job in jobs:
        errors += int(job.get("error", 0)) != 0
        errors += int(job.get("total_err", 0))
        for side in ("read", "write"):
            s = job.get(side, {})
            n = int(s.get("total_ios", 0))
            if n == 0 and int(s.get("io_bytes", 0)) == 0:
                continue
            io_bytes += int(s["io_bytes"])
            runtime_ms = max(runtime_ms, int(s.get("runtime", 0)))
            ios += n
            lat = s.get("lat_ns") or s.get("clat_ns") or {}
            lat_sum_ns += float(lat.get("mean", 0)) * n
            lat_max_ns = max(lat_max_ns, float(lat.get("max", 0)))
            pct = (s.get("clat_ns") or {}).get("percentile") or {}
            p99_ns = max(p99_ns, float(pct.get("99.000000", 0)))
    return io_bytes, runtime_ms, ios, errors, lat_sum_ns, lat_max_ns, p99_ns


def cmd_fio(path):
    io_bytes, runtime_ms, ios, errors, lat_sum, lat_max, p99 = fio_totals(load_json(path))
    if runtime_ms <= 0:
        die(f"{path}: fio ran for no time")
    secs = runtime_ms / 1000
    mean_ms = lat_sum / ios / 1e6 if ios else 0
    print(f"{io_bytes / MIB / secs:.1f} {ios / secs:.0f} {mean_ms:.3f} {p99 / 1e6:.3f} "
          f"{lat_max / 1e6:.1f} {errors} {io_bytes}")


def cmd_iscsi_perf(path, bytes_per_io):
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    found = re.findall(r"iops average (\d+)", text)
    if not found:
        die(f"{path}: no 'iops average' in iscsi-perf's output")
    iops = int(found[-1])
    print(f"{iops * int(bytes_per_io) / MIB:.1f} {iops}")


def read_bw_log(path):
    """fio bandwidth log lines: msec, KiB/s, direction (0 read, 1 write), ...
    -> {direction: [(msec, MiB/s), ...]} in time order."""
    samples = {0: [], 1: []}
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = [p.strip() for p in line.split(",")]
            if len(parts) >= 3 and int(parts[2]) in samples:
                samples[int(parts[2])].append((int(parts[0]), float(parts[1]) / 1024))
    return samples


def resample(samples, end_ms, step=100, gap=250):
    """Onto a grid of `step` ms. fio logs a sample about every `step` ms while I/O completes, and
    nothing while none does: a sample covers the time since the previous one when that is under
    `gap` ms, else only the last `step` ms, the time before it being a stretch without I/O.
    Returns the grid (MiB/s per bin) and the longest stretch without I/O in ms."""
    bins = [0.0] * (end_ms // step + 1)
    prev = samples[0][0] - step if samples else 0
    longest = 0
    for t, v in samples:
        begin = prev if t - prev <= gap else t - step
        longest = max(longest, begin - prev)
        for b in range(begin // step, min(len(bins), (t - 1) // step + 1)):
            lo, hi = max(begin, b * step), min(t, (b + 1) * step)
            if hi > lo:
                bins[b] += v * (hi - lo) / step
        prev = t
    longest = max(longest, end_ms - prev - step if end_ms - prev > gap else 0)
    return bins, longest


def cmd_timeline(json_path, log_path, start_s, on_s, off_s, out_path):
    doc = load_json(json_path)
    _, runtime_ms, _, errors, _, lat_max, _ = fio_totals(doc)
    origin = round(float(start_s) * 1000)
    samples = {d: [(t - origin, v) for t, v in s if t > origin]
               for d, s in read_bw_log(log_path).items()}
    if not samples[0] and not samples[1]:
        die(f"{log_path}: empty bandwidth log")
    end_ms = max([runtime_ms] + [t for d in samples.values() for t, _ in d])
    reads, r_gap = resample(samples[0], end_ms)
    writes, w_gap = resample(samples[1], end_ms)
    on, off = float(on_s) - origin / 1000, float(off_s) - origin / 1000
    phases = {"before": [], "during": [], "after": []}
    with open(out_path, "w", encoding="utf-8") as out:
        for b, (r, w) in enumerate(zip(reads, writes)):
            t = (b + 1) / 10
            out.write(f"{t:.1f} {r:.1f} {w:.1f} {r + w:.1f}\n")
            phase = "before" if t <= on else ("during" if t <= off else "after")
            if t > 0.5 and t <= end_ms / 1000:  # leave out fio's start-up
                phases[phase].append(r + w)

    def mean(v):
        return sum(v) / len(v) if v else 0

    print(f"{lat_max / 1e6:.0f} {min(r_gap, w_gap)} {mean(phases['before']):.1f} "
          f"{mean(phases['during']):.1f} {mean(phases['after']):.1f} {errors}")


def cmd_lunfs_stats(path):
    doc = load_json(path)
    failed = retries = resets = downs = 0
    luns = doc.get("luns", []) if isinstance(doc, dict) else []
    for lun in luns:
        failed += int(lun.get("failed_requests", 0) or 0)
        for p in lun.get("paths", []):
            retries += int(p.get("retries", 0) or 0)
            resets += int(p.get("resets", 0) or 0)
            downs += int(p.get("path_failures", 0) or 0)
    print(f"{failed} {retries} {resets} {downs}")


def cmd_failover(json_path, stats_path):
    """The failover scenario's figures: the longest I/O (ms), I/Os, fio's errors, then the
    mount's fence mode, the fences the target confirmed, and the paths' resets."""
    _, _, ios, errors, _, lat_max, _ = fio_totals(load_json(json_path))
    doc = load_json(stats_path)
    mode, fences, resets = "-", 0, 0
    for lun in doc.get("luns", []) if isinstance(doc, dict) else []:
        fence = lun.get("fence") or {}
        mode = fence.get("mode", mode) or mode
        fences += int(fence.get("confirmed", 0) or 0)
        resets += sum(int(p.get("resets", 0) or 0) for p in lun.get("paths", []))
    print(f"{lat_max / 1e6:.0f} {ios} {errors} {mode} {fences} {resets}")


def path_bytes(doc):
    return [int(p.get("bytes_read", 0)) + int(p.get("bytes_written", 0))
            for lun in doc.get("luns", []) for p in lun.get("paths", [])]


def cmd_shares(before_path, after_path):
    before, after = path_bytes(load_json(before_path)), path_bytes(load_json(after_path))
    if len(before) != len(after) or not after:
        die("the two snapshots do not have the same paths")
    delta = [a - b for a, b in zip(after, before)]
    total = sum(delta)
    shares = "/".join(f"{100 * d / total:.0f}" if total > 0 else "0" for d in delta)
    print(f"{shares} {total}")


def main(argv):
    if len(argv) < 2:
        die("usage: parse.py fio|iscsi-perf|timeline|lunfs-stats|shares|failover ...")
    cmd, args = argv[1], argv[2:]
    table = {"fio": (cmd_fio, 1), "iscsi-perf": (cmd_iscsi_perf, 2),
             "timeline": (cmd_timeline, 6), "lunfs-stats": (cmd_lunfs_stats, 1),
             "shares": (cmd_shares, 2), "failover": (cmd_failover, 2)}
    if cmd not in table or len(args) != table[cmd][1]:
        die(f"bad arguments: {' '.join(argv[1:])}")
    table[cmd][0](*args)


if __name__ == "__main__":
    main(sys.argv)
