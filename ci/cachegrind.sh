#!/usr/bin/env bash
# Simulated cache behaviour and exact instruction counts of the single-thread
# write and read loops, for tracering and rtrb (ringbench-loops).
#
#   cachegrind: D1 and LL miss rates of each loop function (per-function
#               counts; the queue code is inlined into the loop).
#   callgrind:  instructions per write and per read, inclusive of anything
#               the loop calls (--toggle-collect on the loop function).
#
# Works where hardware counters don't (VMs without a PMU). The instruction
# counts repeat exactly from run to run; the miss rates depend on the cache
# geometry valgrind simulates, which it prints and this script repeats.
#
# Usage: ci/cachegrind.sh [LAPS]      (1 lap = 1024 writes + 1024 reads)
# Env:   CACHEGRIND_OUT=path.json to also write the figures as JSON.
#        CACHEGRIND_MAX_D1=5 to fail if a loop's D1 miss rate exceeds 5%.
set -euo pipefail
# shellcheck source=ci/setup.sh
source "$(dirname "$0")/setup.sh"

LAPS=${1:-200}
LAP=1024
OPS=$((LAPS * LAP))

need_apt valgrind
need_python

cargo build --release -p ringbench --bin ringbench-loops
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
BIN="$TARGET_DIR/release/ringbench-loops"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# Sums the cachegrind counts of one function over all its source lines and
# prints "Ir Dr D1mr DLmr Dw D1mw DLmw".
fn_counts() { # file fn
    awk -v want="$2" '
        /^events:/ { for (i = 2; i <= NF; i++) col[$i] = i - 1; next }
        /^fn=/ { cur = substr($0, 4); next }
        /^[0-9]/ && cur == want {
            for (i = 2; i <= NF; i++) sum[i - 1] += $i
        }
        END {
            printf "%d %d %d %d %d %d %d\n", sum[col["Ir"]], sum[col["Dr"]], sum[col["D1mr"]], sum[col["DLmr"]], sum[col["Dw"]], sum[col["D1mw"]], sum[col["DLmw"]]
        }' "$1"
}

# Total instructions collected by callgrind.
cg_total() { # file
    awk '/^(summary|totals):/ { print $2; exit }' "$1"
}

pct() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "n/a"; else printf "%.2f", 100 * a / b }'; }
per() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

declare -A R
for impl in tracering rtrb; do
    valgrind --tool=cachegrind --cache-sim=yes --cachegrind-out-file="$WORK/cg.$impl" \
        "$BIN" "$impl" "$LAPS" >"$WORK/cg.$impl.log" 2>&1
    for loop in write read; do
        read -r _ir dr d1mr dlmr dw d1mw dlmw < <(fn_counts "$WORK/cg.$impl" "ringbench_${loop}_$impl")
        refs=$((dr + dw))
        R[$impl.$loop.d1]=$(pct $((d1mr + d1mw)) $refs)
        R[$impl.$loop.ll]=$(pct $((dlmr + dlmw)) $refs)
        R[$impl.$loop.refs]=$(per $refs $OPS)
        valgrind --tool=callgrind --toggle-collect="ringbench_${loop}_$impl" \
            --callgrind-out-file="$WORK/cl.$impl.$loop" "$BIN" "$impl" "$LAPS" >"$WORK/cl.$impl.$loop.log" 2>&1
        R[$impl.$loop.ins]=$(per "$(cg_total "$WORK/cl.$impl.$loop")" $OPS)
    done
done

D1_DESC=$(awk '/^desc: D1 cache/ { sub(/^desc: D1 cache: */, ""); print; exit }' "$WORK/cg.tracering")
LL_DESC=$(awk '/^desc: LL cache/ { sub(/^desc: LL cache: */, ""); print; exit }' "$WORK/cg.tracering")
echo
echo "valgrind $(valgrind --version | sed 's/valgrind-//'); $LAPS laps: $OPS writes and $OPS reads of 32-byte events, 64 KiB ring"
echo "simulated D1: $D1_DESC; LL: $LL_DESC"
printf '\n%-10s %-6s %12s %10s %10s %14s\n' impl loop "D1 miss %" "LL miss %" "refs/op" "instructions/op"
for impl in tracering rtrb; do
    for loop in write read; do
        printf '%-10s %-6s %12s %10s %10s %14s\n' "$impl" "$loop" "${R[$impl.$loop.d1]}" \
            "${R[$impl.$loop.ll]}" "${R[$impl.$loop.refs]}" "${R[$impl.$loop.ins]}"
    done
done
echo
echo "D1 misses of the write loop are the first touches of each 64-byte line of"
echo "the ring (one per two 32-byte events), which a streaming ring cannot avoid."

if [ -n "${CACHEGRIND_OUT:-}" ]; then
    {
        echo "{\"laps\": $LAPS, \"ops\": $OPS, \"d1\": \"$D1_DESC\", \"ll\": \"$LL_DESC\", \"loops\": ["
        sep=""
        for impl in tracering rtrb; do
            for loop in write read; do
                printf '%s  {"impl": "%s", "loop": "%s", "d1_miss_pct": %s, "ll_miss_pct": %s, "data_refs_per_op": %s, "instructions_per_op": %s}' \
                    "$sep" "$impl" "$loop" "${R[$impl.$loop.d1]}" "${R[$impl.$loop.ll]}" "${R[$impl.$loop.refs]}" "${R[$impl.$loop.ins]}"
                sep=$',\n'
            done
        done
        printf '\n]}\n'
    } >"$CACHEGRIND_OUT"
    echo "wrote $CACHEGRIND_OUT"
fi

if [ -n "${CACHEGRIND_MAX_D1:-}" ]; then
    fail=0
    for key in tracering.write tracering.read; do
        if awk -v v="${R[$key.d1]}" -v m="$CACHEGRIND_MAX_D1" 'BEGIN { exit !(v > m) }'; then
            echo "FAIL: $key D1 miss rate ${R[$key.d1]}% > $CACHEGRIND_MAX_D1%"
            fail=1
        fi
    done
    exit $fail
fi
