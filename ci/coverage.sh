#!/usr/bin/env bash
# ci/coverage.sh: line and region coverage with cargo-llvm-cov (stable, with
# the llvm-tools component), over the crate's whole test suite except the
# doctests (doctest coverage needs nightly).
#
# Prints the line and region coverage of every file under src/ and arch/,
# then the uncovered lines of the protocol core, and fails if the core is
# below COVERAGE_MIN (95) percent of lines. The core is the SPSC protocol
# and its front-ends (src/ring.rs, src/handles.rs, src/event.rs,
# src/record/*.rs), the shared header (src/layout.rs), the orderings
# (arch/order.rs, the same on every target), the host's clock/line/spin
# file (arch/mod.rs plus arch/x86_64.rs, or arch/aarch64.rs on an aarch64
# host), and the trace schema (src/schema/, its tests.rs left
# out), whose decoder reads what a hostile peer may have written. The library's `tracing`
# feature is on, so the layer's tests run too. arch/generic.rs is compiled on every host but mostly unused on those
# two, so it is reported and not held to the minimum; the aarch64 file runs
# under QEMU.
set -euo pipefail
# shellcheck source=ci/setup.sh
source "$(dirname "$0")/setup.sh"

need_llvm_cov
need_python

MIN="${COVERAGE_MIN:-95}"
case "$CI_HOST" in
    x86_64-*) host_backend=arch/x86_64.rs ;;
    aarch64-*) host_backend=arch/aarch64.rs ;;
    *) host_backend=arch/generic.rs ;;
esac
CORE="src/ring.rs src/handles.rs src/event.rs src/record/mod.rs src/record/format.rs src/record/producer.rs src/record/consumer.rs src/layout.rs src/schema/mod.rs src/schema/decode.rs src/schema/callsites.rs src/schema/encode.rs arch/mod.rs arch/order.rs $host_backend"
IGNORE='(^|/)(tests|benches|examples|ringbench|tools|fuzz)/|/\.cargo/|/rustc/'

rc=0
run_logged coverage-run cargo llvm-cov --no-report -p tracering -p tracering-tracer --features tracering/tracing || rc=$?
read -r passed failed < <(count_tests "$CI_LOGS/coverage-run.log")
[ "$rc" -eq 0 ] || { echo "coverage: FAILED, the instrumented tests failed ($passed passed, $failed failed)"; exit 1; }

json="$CI_LOGS/coverage.json"
cargo llvm-cov report --json --summary-only --ignore-filename-regex "$IGNORE" >"$json"
missing_txt="$CI_LOGS/coverage-missing.txt"
cargo llvm-cov report --show-missing-lines --ignore-filename-regex "$IGNORE" >"$missing_txt" 2>&1 || true

# shellcheck disable=SC2086 # $CORE is a list of paths
python3 - "$json" "$missing_txt" "$CI_ROOT" "$MIN" $CORE <<'PY'
import json, os, re, sys

path, missing_path, root, minimum = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
core = sys.argv[5:]
data = json.load(open(path))["data"][0]["files"]

rows = {}
for f in data:
    rel = os.path.relpath(f["filename"], root)
    if not (rel.startswith("src/") or rel.startswith("arch/")):
        continue
    s = f["summary"]
    rows[rel] = (s["lines"]["count"], s["lines"]["covered"],
                 s["regions"]["count"], s["regions"]["covered"])

def pct(a, b):
    return 100.0 * b / a if a else 100.0

print(f"{'file':<22}{'lines':>8}{'missed':>8}{'line %':>9}{'regions':>9}{'missed':>8}{'region %':>10}")
tl = tc = tr = trc = 0
for rel in sorted(rows):
    l, lc, r, rc = rows[rel]
    tl += l; tc += lc; tr += r; trc += rc
    mark = "  core" if rel in core else ""
    print(f"{rel:<22}{l:>8}{l - lc:>8}{pct(l, lc):>8.1f}%{r:>9}{r - rc:>8}{pct(r, rc):>9.1f}%{mark}")
print(f"{'src/ + arch/':<22}{tl:>8}{tl - tc:>8}{pct(tl, tc):>8.1f}%{tr:>9}{tr - trc:>8}{pct(tr, trc):>9.1f}%")

absent = [c for c in core if c not in rows]
cl = sum(rows[c][0] for c in core if c in rows)
cc = sum(rows[c][1] for c in core if c in rows)
cr = sum(rows[c][2] for c in core if c in rows)
crc = sum(rows[c][3] for c in core if c in rows)

# Uncovered lines of the core, with their source text.
print("\nUncovered lines in the protocol core:")
text = open(missing_path).read()
any_missing = False
for m in re.finditer(r"^(\S+?): ([0-9, -]+)$", text, re.M):
    rel = os.path.relpath(m.group(1), root)
    if rel not in core:
        continue
    src = open(os.path.join(root, rel)).read().split("\n")
    for part in m.group(2).replace(" ", "").split(","):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        lo, hi = int(lo), int(hi or lo)
        any_missing = True
        body = " / ".join(src[n - 1].strip() for n in range(lo, hi + 1) if n <= len(src))
        where = f"{lo}" if lo == hi else f"{lo}-{hi}"
        print(f"  {rel}:{where}: {body}")
if not any_missing:
    print("  (none)")

line_pct, region_pct = pct(cl, cc), pct(cr, crc)
summary = (f"core {line_pct:.1f}% lines ({cc}/{cl}), {region_pct:.1f}% regions; "
           f"src/+arch/ {pct(tl, tc):.1f}% lines, {pct(tr, trc):.1f}% regions")
if absent:
    print(f"coverage: FAILED, core files missing from the report: {' '.join(absent)}")
    sys.exit(1)
if line_pct < minimum:
    print(f"coverage: FAILED, {summary} (minimum {minimum:.0f}% core lines)")
    sys.exit(1)
print(f"coverage: {summary} (minimum {minimum:.0f}% core lines)")
PY
