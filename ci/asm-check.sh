#!/usr/bin/env bash
# ci/asm-check.sh: instruction checks on the hot paths.
#
# examples/asm_probe.rs wraps each hot path (event push/pop and their batch
# forms, record write/read) in an #[inline(never)] #[no_mangle] probe. This
# script builds it in release for several configurations, disassembles each
# probe together with the crate functions it calls (the cold refresh paths,
# where the acquire loads live), and checks:
#
#   x86_64            no `lock` prefix, no `mfence`, no `xchg` with memory:
#                     acquire and release are plain `mov`s (TSO)
#   aarch64           at least one `stlr` and one `ldar`/`ldapr`, no `dmb`,
#                     no exclusive-monitor or LSE read-modify-write; the
#                     flight writers (probe_flight_*): a `stlr`, exactly one
#                     `dmb` (the claim's release fence) and no acquire load
#   aarch64 + rcpc    the same, with `ldapr` in place of `ldar`
#   `portable`        the same checks for the `portable` feature build on
#                     both targets, which must emit the same ordering
#                     instructions as the default build: the feature changes
#                     only the clock, line size and spin hint, never the
#                     orderings (arch/order.rs is the one implementation)
#
# The example is compiled with rustc against the release rlib of the crate
# rather than with `cargo build --example`, which would first build every
# dev-dependency (criterion and the peer rings) for each target.
set -euo pipefail
# shellcheck source=ci/setup.sh
source "$(dirname "$0")/setup.sh"

need_component llvm-tools-preview
need_aarch64_cross
need_python

OBJDUMP="$(llvm_tool llvm-objdump)"
OUT="$CI_ROOT/target/asm"
mkdir -p "$OUT"

# build_probe NAME TRIPLE FEATURES RUSTFLAGS: builds the library and the
# probe binary, disassembles it to $OUT/NAME.s.
build_probe() {
    local name="$1" triple="$2" features="$3" flags="$4"
    local tdir="$OUT/build-$name"
    local feat=()
    [ -n "$features" ] && feat=(--features "$features")
    ci_log "building the probe: $name ($triple${features:+, features $features}${flags:+, $flags})"
    local rlib
    rlib="$(env RUSTFLAGS="$flags" cargo build -p tracering --lib --release --target "$triple" \
        --target-dir "$tdir" "${feat[@]}" --message-format=json 2>"$CI_LOGS/asm-$name.log" |
        python3 -c '
import json, sys
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "tracering":
        for f in m["filenames"]:
            if f.endswith(".rlib"):
                print(f)
')" || { cat "$CI_LOGS/asm-$name.log" >&2; ci_die "library build failed for $name"; }
    [ -n "$rlib" ] || ci_die "no rlib found for $name"
    local linker=()
    [ "$triple" = aarch64-unknown-linux-gnu ] && linker=(-C linker=aarch64-linux-gnu-gcc)
    # shellcheck disable=SC2086 # $flags is a list of rustc flags
    rustc --edition 2021 --crate-type bin --crate-name asm_probe examples/asm_probe.rs \
        --target "$triple" -C opt-level=3 -C codegen-units=1 -C debuginfo=0 $flags \
        "${linker[@]}" --extern tracering="$rlib" -L "dependency=$tdir/$triple/release/deps" \
        -L "dependency=$tdir/release/deps" \
        -o "$OUT/asm_probe-$name" 2>>"$CI_LOGS/asm-$name.log" ||
        { cat "$CI_LOGS/asm-$name.log" >&2; ci_die "probe build failed for $name"; }
    "$OBJDUMP" -d --no-show-raw-insn "$OUT/asm_probe-$name" >"$OUT/$name.s"
}

build_probe x86_64 x86_64-unknown-linux-gnu "" ""
build_probe x86_64-portable x86_64-unknown-linux-gnu portable ""
build_probe aarch64 aarch64-unknown-linux-gnu "" ""
build_probe aarch64-rcpc aarch64-unknown-linux-gnu "" "-C target-feature=+rcpc"
build_probe aarch64-portable aarch64-unknown-linux-gnu portable ""

# The aarch64 probe also runs under QEMU, as a smoke test of the binary.
if qemu-aarch64-static -L /usr/aarch64-linux-gnu "$OUT/asm_probe-aarch64" >"$OUT/run.txt" 2>&1; then
    ci_log "$(cat "$OUT/run.txt")"
else
    cat "$OUT/run.txt" >&2
    ci_die "the aarch64 probe failed under QEMU"
fi

python3 - "$OUT" <<'PY'
import re, sys
from collections import Counter

out = sys.argv[1]
PROBES = ["probe_event_push", "probe_event_pop", "probe_event_push_batch",
          "probe_event_pop_batch", "probe_record_write", "probe_record_read",
          "probe_flight_push", "probe_flight_record_write"]
FLIGHT = {"probe_flight_push", "probe_flight_record_write"}

def functions(path):
    """Maps symbol -> list of (mnemonic, operands) from llvm-objdump -d."""
    funcs, cur = {}, None
    head = re.compile(r"^[0-9a-f]+ <(.+)>:$")
    for line in open(path):
        line = line.rstrip("\n")
        m = head.match(line)
        if m:
            cur = funcs.setdefault(m.group(1), [])
            continue
        if not line.strip():
            cur = None
            continue
        if cur is None or ":" not in line:
            continue
        text = line.split(":", 1)[1].strip()
        if not text:
            continue
        parts = text.split(None, 1)
        cur.append((parts[0], parts[1] if len(parts) > 1 else ""))
    return funcs

def closure(funcs, root):
    """The probe plus the crate functions it reaches by call or tail jump."""
    seen, todo = [], [root]
    while todo:
        f = todo.pop()
        if f in seen or f not in funcs:
            continue
        seen.append(f)
        for mnem, ops in funcs[f]:
            if not (mnem.startswith("call") or mnem in ("bl", "b", "jmp")):
                continue
            m = re.search(r"<([^>+]+)>", ops)
            if m and "tracering" in m.group(1) and m.group(1) != f:
                todo.append(m.group(1))
    return seen

def demangle_short(sym):
    # _ZN9tracering4ring8ProdCore7refresh17h..E -> ring::ProdCore::refresh
    parts, s = [], sym
    if s.startswith("_ZN"):
        s = s[3:]
        while s and s[0].isdigit():
            n = re.match(r"\d+", s).group(0)
            s = s[len(n):]
            parts.append(s[:int(n)])
            s = s[int(n):]
        parts = [p for p in parts if not re.fullmatch(r"h[0-9a-f]{16}", p)]
        return "::".join(p.replace("$LT$", "<").replace("$GT$", ">")
                         .replace("$u20$", " ").replace("..", "::") for p in parts[1:])
    return sym

def classify(arch, insns):
    c = Counter()
    for mnem, ops in insns:
        c["insns"] += 1
        if arch == "x86_64":
            if mnem == "lock" or mnem.startswith("lock"):
                c["lock"] += 1
            if mnem == "mfence":
                c["mfence"] += 1
            if mnem.startswith("xchg") and "(" in ops:
                c["xchg-mem"] += 1
            if mnem in ("lfence", "sfence"):
                c[mnem] += 1
        else:
            if mnem.startswith("stlr"):
                c["stlr"] += 1
            elif mnem.startswith("ldapr"):
                c["ldapr"] += 1
            elif mnem.startswith("ldar"):
                c["ldar"] += 1
            elif mnem == "dmb" or mnem == "dsb":
                c["dmb"] += 1
            elif re.match(r"(ld|st)a?xr|(ld|st)a?xp|cas|swp|ld(add|clr|eor|set)", mnem):
                c["rmw"] += 1
    return c

failures = []
results = {}
for name in ["x86_64", "x86_64-portable", "aarch64", "aarch64-rcpc", "aarch64-portable"]:
    arch = "x86_64" if name.startswith("x86_64") else "aarch64"
    funcs = functions(f"{out}/{name}.s")
    results[name] = {}
    for p in PROBES:
        if p not in funcs:
            failures.append(f"{name}: probe {p} not found in the binary")
            continue
        fs = closure(funcs, p)
        insns = [i for f in fs for i in funcs[f]]
        c = classify(arch, insns)
        c["callees"] = len(fs) - 1
        results[name][p] = (c, [demangle_short(f) for f in fs[1:]])

def show(name, keys):
    print(f"\n[{name}]")
    print(f"  {'probe':<24}{'insns':>6}" + "".join(f"{k:>9}" for k in keys) + "  crate callees")
    for p in PROBES:
        if p not in results[name]:
            continue
        c, callees = results[name][p]
        print(f"  {p:<24}{c['insns']:>6}" + "".join(f"{c[k]:>9}" for k in keys)
              + "  " + (", ".join(callees) or "-"))

X86 = ["lock", "mfence", "xchg-mem", "lfence", "sfence"]
ARM = ["stlr", "ldar", "ldapr", "dmb", "rmw"]
show("x86_64", X86)
show("x86_64-portable", X86)
show("aarch64", ARM)
show("aarch64-rcpc", ARM)
show("aarch64-portable", ARM)

for name in ["x86_64", "x86_64-portable"]:
    for p, (c, _) in results[name].items():
        for k in ("lock", "mfence", "xchg-mem"):
            if c[k]:
                failures.append(f"{name}: {p} has {c[k]} {k}")
for name in ["aarch64", "aarch64-rcpc", "aarch64-portable"]:
    acq = "ldapr" if name == "aarch64-rcpc" else "ldar"
    for p, (c, _) in results[name].items():
        if c["stlr"] == 0:
            failures.append(f"{name}: {p} has no stlr")
        if c["rmw"]:
            failures.append(f"{name}: {p} has {c['rmw']} read-modify-write instructions")
        if p in FLIGHT:
            if c["dmb"] != 1:
                failures.append(f"{name}: {p} has {c['dmb']} dmb/dsb, not the one fence")
            if c["ldar"] or c["ldapr"]:
                failures.append(f"{name}: {p} has an acquire load")
            continue
        if c[acq] == 0:
            failures.append(f"{name}: {p} has no {acq}")
        if c["dmb"]:
            failures.append(f"{name}: {p} has {c['dmb']} dmb/dsb")

same = 0
for base, keys in (("x86_64", X86), ("aarch64", ARM)):
    print(f"\n[{base}: default vs `portable` feature build]")
    for p in PROBES:
        a, g = results[base].get(p), results[f"{base}-portable"].get(p)
        if not a or not g:
            continue
        ka = {k: a[0][k] for k in keys}
        kg = {k: g[0][k] for k in keys}
        if ka == kg:
            verdict = "same ordering instructions"
            same += 1
        else:
            verdict = "DIFFERENT ordering instructions"
            failures.append(f"{base}-portable: {p} orders differently from {base}: {kg} vs {ka}")
        print(f"  {p:<24} default {a[0]['insns']:>4} insns {ka}   portable {g[0]['insns']:>4} insns {kg}   {verdict}")

print()
for f in failures:
    print("FAIL:", f)
n = sum(len(r) for r in results.values())
if failures:
    print(f"asm-check: FAILED, {len(failures)} violations in {n} probe builds")
    sys.exit(1)
print(f"asm-check: {n} probes clean (x86_64: no lock/mfence/xchg; aarch64: stlr+ldar, "
      f"rcpc: stlr+ldapr, no dmb; flight writers: stlr, one dmb, no acquire); the portable build orders the same on {same}/{2 * len(PROBES)} probes")
PY
