#!/usr/bin/env bash
# Smoke test of the bench report: a --quick ringbench run must finish and
# write JSON with the issue's schema and a row for every workload and impl.
# It checks shape, not speed: no figure is compared with a target here.
#
# Usage: ci/bench-smoke.sh [JSON_PATH]   (default target/ringbench.json)
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${1:-target/ringbench.json}
rm -f "$OUT"
start=$(date +%s)
cargo run --release --bin ringbench -- --quick --json "$OUT"
secs=$(( $(date +%s) - start ))
echo "bench-smoke: ringbench --quick (with build) took ${secs}s"

python3 - "$OUT" <<'PY'
import json, sys

path = sys.argv[1]
with open(path) as f:
    report = json.load(f)

problems = []

def need(cond, msg):
    if not cond:
        problems.append(msg)

machine_keys = {"arch", "cpus", "cpu_model", "backend", "pinned", "hop_ns"}
row_keys = {"workload", "impl", "ops_per_s", "bytes_per_s", "p50_ns", "p99_ns",
            "p999_ns", "cache_miss_rate", "runs"}
need(set(report.get("machine", {})) == machine_keys,
     f"machine keys {sorted(report.get('machine', {}))} != {sorted(machine_keys)}")
counters = report.get("counters", {})
need(set(counters) == {"hardware", "reason"}, f"counters keys {sorted(counters)}")
need(isinstance(counters.get("hardware"), bool), "counters.hardware is not a bool")
need(counters.get("hardware") or isinstance(counters.get("reason"), str),
     "counters.hardware is false but no reason is given")

expected = {
    "event32_cross": ["tracering", "rtrb", "ringbuf", "crossbeam"],
    "event32_batch_cross": ["tracering", "rtrb", "ringbuf"],
    "record_mixed_cross": ["tracering", "rtrb"],
    "write_latency": ["tracering", "rtrb", "timer-floor"],
    "visibility_latency": ["tracering", "rtrb"],
    "false_sharing": ["tracering", "tracering-unpadded"],
    "registry_drain": ["tracering-1p", "tracering-2p", "tracering-4p", "tracering-8p"],
}
# Figures each workload must have once it has run.
figures = {
    "event32_cross": ["ops_per_s", "bytes_per_s"],
    "event32_batch_cross": ["ops_per_s", "bytes_per_s"],
    "record_mixed_cross": ["ops_per_s", "bytes_per_s"],
    "write_latency": ["p50_ns", "p99_ns", "p999_ns"],
    "visibility_latency": ["p50_ns", "p99_ns", "p999_ns"],
    "false_sharing": ["ops_per_s"],
    "registry_drain": ["ops_per_s"],
}
notes = {(n["workload"], n["impl"]): n["note"] for n in report.get("notes", [])}
rows = {}
for r in report.get("results", []):
    need(set(r) == row_keys, f"row keys {sorted(r)} != {sorted(row_keys)}")
    rows[(r.get("workload"), r.get("impl"))] = r

for workload, impls in expected.items():
    for impl in impls:
        r = rows.get((workload, impl))
        if r is None:
            problems.append(f"missing row {workload}/{impl}")
            continue
        if r["runs"] == 0:
            problems.append(f"{workload}/{impl} has no runs: {notes.get((workload, impl), 'no reason given')}")
            continue
        for k in figures[workload]:
            v = r[k]
            need(isinstance(v, (int, float)) and v > 0, f"{workload}/{impl}: {k} = {v!r}")
        if not counters.get("hardware"):
            need(r["cache_miss_rate"] is None,
                 f"{workload}/{impl}: cache_miss_rate without hardware counters")

if problems:
    print("bench-smoke: FAIL")
    for p in problems:
        print("  " + p)
    sys.exit(1)
print(f"bench-smoke: ok: {len(rows)} rows, hop_ns={report['machine']['hop_ns']}, "
      f"hardware counters={counters['hardware']}")
PY
