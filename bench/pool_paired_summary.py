#!/usr/bin/env python3
"""Summary of bench/pool-paired.sh's rounds: per proxy, transactions from
pgbench's progress reports and CPU time interpolated to the same instants.

usage: pool_paired_summary.py WORKDIR NAME_A NAME_B WARMUP_S CLK_TCK
WORKDIR holds one folder per round with a.progress, b.progress and cpu
("epoch ticks_a ticks_b" lines)."""
import bisect
import pathlib
import re
import statistics
import sys

PROGRESS = re.compile(r"^progress: ([0-9.]+) s, ([0-9.]+) tps")


def reports(path):
    """(timestamp, tps over the interval that ends there), in order."""
    out = []
    for line in path.read_text().splitlines():
        match = PROGRESS.match(line)
        if match:
            out.append((float(match.group(1)), float(match.group(2))))
    return out


def interpolate(samples, at):
    """Ticks at `at` from (time, ticks) samples, linear between neighbours."""
    times = [t for t, _ in samples]
    i = bisect.bisect_left(times, at)
    if i == 0 or i == len(samples):
        raise SystemExit(f"no CPU samples around {at}")
    (t0, c0), (t1, c1) = samples[i - 1], samples[i]
    return c0 + (c1 - c0) * (at - t0) / (t1 - t0)


def measure(progress, cpu, start, end, tick):
    """TPS and CPU us/tx over the progress intervals inside [start, end]."""
    tx = 0.0
    first = last = None
    for (t0, _), (t1, tps) in zip(progress, progress[1:]):
        if t0 >= start and t1 <= end:
            tx += tps * (t1 - t0)
            first = t0 if first is None else first
            last = t1
    if tx == 0:
        raise SystemExit("no progress interval inside the common window")
    ticks = interpolate(cpu, last) - interpolate(cpu, first)
    return tx / (last - first), ticks / tick * 1e6 / tx


def main():
    work, name_a, name_b = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    warmup, tick = float(sys.argv[4]), float(sys.argv[5])
    rows = []
    for round_dir in sorted(work.iterdir(), key=lambda p: int(p.name)):
        prog_a = reports(round_dir / "a.progress")
        prog_b = reports(round_dir / "b.progress")
        samples = [line.split() for line in (round_dir / "cpu").read_text().splitlines()]
        cpu_a = [(float(s[0]), float(s[1])) for s in samples]
        cpu_b = [(float(s[0]), float(s[2])) for s in samples]
        # pgbench's last report may come after the sampler's last look.
        start = max(prog_a[0][0], prog_b[0][0]) + warmup
        end = min(prog_a[-1][0], prog_b[-1][0], cpu_a[-1][0])
        tps_a, us_a = measure(prog_a, cpu_a, start, end, tick)
        tps_b, us_b = measure(prog_b, cpu_b, start, end, tick)
        rows.append((tps_a, us_a, tps_b, us_b))
        print(f"round {round_dir.name}: {name_a} {tps_a:,.0f} tps {us_a:.2f} us/tx  "
              f"{name_b} {tps_b:,.0f} tps {us_b:.2f} us/tx  "
              f"ratio tps {tps_a / tps_b:.3f} cpu {us_a / us_b:.3f}")
    med = statistics.median
    print(f"median over {len(rows)} rounds: {name_a} {med(r[0] for r in rows):,.0f} tps "
          f"{med(r[1] for r in rows):.2f} us/tx  {name_b} {med(r[2] for r in rows):,.0f} tps "
          f"{med(r[3] for r in rows):.2f} us/tx  ratio (median of rounds) tps "
          f"{med(r[0] / r[2] for r in rows):.3f} cpu {med(r[1] / r[3] for r in rows):.3f}")


if __name__ == "__main__":
    main()
