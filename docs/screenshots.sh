#!/usr/bin/env bash
# Redraw the screenshots of docs/ (img/) with the project's own commands (needs headless chromium:
# `apt-get install chromium`): a race bundle's timeline.html, and one report page across stores.
# Usage: docs/screenshots.sh   (from a clone with .venv installed; takes a few minutes: four suite runs)
set -euo pipefail
cd "$(dirname "$0")/.."
cli=.venv/bin/rollout-conformance
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# 1. the known lost-line race: exit 1 (violation) is what we expect here
"$cli" race --store mutant:upstream-stat-recheck --scenario r2-writer-vs-unlink --bundle-dir "$work/bundles" \
    --workdir "$work/race" >/dev/null || [ $? = 1 ]
"$cli" timeline "$work"/bundles/*/ --screenshot docs/img/timeline.png --size 1400x640

# 2. the suite against the reference, two mutants and the reader-only Perl adapter (failures are expected)
n=0
for store in reference mutant:reader-prefers-zst mutant:upstream-stat-recheck "cmd:perl conformance/stores/adapters/reader.pl"; do
    n=$((n + 1))
    ROLLOUT_HYPOTHESIS_PROFILE=smoke "$cli" suite --store "$store" --report "$work/report-$n.json" -- -q >/dev/null || true
done
"$cli" report "$work"/report-*.json --html "$work/report.html" --markdown docs/img/report-example.md \
    --screenshot docs/img/report.png
