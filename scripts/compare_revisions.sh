#!/usr/bin/env bash
# Run one benchmark script at an older revision and at the working tree in alternating rounds, so that
# machine drift hits both sides alike; each run prints its own table.
#   scripts/compare_revisions.sh REV ROUNDS SCRIPT [ARGS...]
# e.g. scripts/compare_revisions.sh 699da41 2 scripts/bench_encode.py --repeats 5
# The old revision is checked out (once) as a git worktree under ${TMPDIR:-/tmp}; each side imports its
# own seqcnn through PYTHONPATH, and runs the script as it was at that revision.
set -euo pipefail
rev=$1 rounds=$2 script=$3
shift 3
root=$(git rev-parse --show-toplevel)
old=${TMPDIR:-/tmp}/seqcnn-rev-$(git rev-parse --short "$rev")
[ -d "$old" ] || git -C "$root" worktree add -q --detach "$old" "$rev"
for round in $(seq "$rounds"); do
    for side in old new; do
        dir=$([ "$side" = old ] && echo "$old" || echo "$root")
        echo "=== round $round: $side ($([ "$side" = old ] && echo "$rev" || echo "working tree"))"
        (cd "$dir" && PYTHONPATH="$dir" python "$script" "$@")
    done
done
