#!/usr/bin/env bash
# Counts the public surface of the tracering library: the items rustdoc lists
# on its "all items" page with all features on (structs, enums, traits,
# functions, constants, type aliases, macros). Prints the total, a count per
# kind, and with -v every item's path.
#
#   bash ci/surface.sh        # total and per kind
#   bash ci/surface.sh -v     # and each item
#   MAX=90 bash ci/surface.sh # fails when the total is above MAX
set -euo pipefail
cd "$(dirname "$0")/.."
cargo doc --quiet --all-features --no-deps -p tracering
page=target/doc/tracering/all.html
# Each item is one `<li><a href="KIND.NAME.html">PATH</a></li>`.
items=$(grep -o '<li><a href="[^"]*">[^<]*</a></li>' "$page" |
    sed -E 's|<li><a href="([^"]*/)?([a-z]+)\.[^"]*">([^<]*)</a></li>|\2 \3|')
total=$(printf '%s\n' "$items" | grep -c .)
echo "public items (all features): $total"
printf '%s\n' "$items" | cut -d' ' -f1 | sort | uniq -c | sort -rn
if [ "${1:-}" = "-v" ]; then
    printf '%s\n' "$items" | sort -k2
fi
if [ -n "${MAX:-}" ] && [ "$total" -gt "$MAX" ]; then
    echo "surface: $total items, above the limit of $MAX" >&2
    exit 1
fi
