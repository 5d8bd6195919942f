#!/usr/bin/env bash
# Fails when two top-level modules of the library depend on each other, directly or
# through others. An edge A -> B is any `crate::B` path written in src/A.rs or src/A/.
# Prints the edges, then the order from the bottom (domain) up; tsort names any loop.
set -euo pipefail
cd "$(dirname "$0")/../src"
modules=$(ls -1 | grep -v -e '^bin$' -e '^lib.rs$' -e '^main.rs$' | sed 's/\.rs$//' | sort -u)
edges=$(for from in $modules; do
    files=$(ls -d "$from.rs" "$from" 2>/dev/null)
    { grep -rhoE 'crate::[a-z_]+' $files || true; } | sed 's/crate:://' | sort -u |
        while read -r to; do
            if [ "$to" != "$from" ]; then echo "$to $from"; fi
        done
done)
echo "$edges" | awk '{print "  " $2 " -> " $1}'
if ! order=$(echo "$edges" | tsort 2>&1); then
    echo "module cycle:" >&2
    echo "$order" >&2
    exit 1
fi
if grep -q 'loop' <<<"$order"; then
    echo "$order" >&2
    exit 1
fi
echo "no cycle; bottom-up order:" $order
