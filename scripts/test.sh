#!/usr/bin/env bash
# The whole test suite (`make test`), group by group: pure logic first (seconds), then real
# OVS/netlink, then end to end under real dockerds, the lab hosts, packaging and swarm.
# The chaos group runs its scenarios reduced to fit CI's time; `make test-chaos` runs them in
# full (OCN_CHAOS_FULL=1). Every group runs even after one fails, so one run shows every failure; the failures are
# listed again at the end (name, file, first lines of the error), where CI's tail shows them.
set -uo pipefail
cd "$(dirname "$0")/.."

RESULTS=dist/test-results
REPORTER=./dist/test/harness/failure-reporter.js
rm -rf "$RESULTS"
mkdir -p "$RESULTS"

GROUPS_RUN=(
  "unit|dist/test/unit/ dist/test/ovsdb/ dist/test/netlink/"
  "integration|--test-concurrency=1 dist/test/integration/ dist/test/harness/"
  "e2e|--test-concurrency=1 dist/test/e2e/"
  "lab|--test-concurrency=1 dist/test/lab/ dist/test/multihost/"
  "chaos|--test-concurrency=1 --test-timeout=900000 dist/test/chaos/"
  "packaging|--test-concurrency=1 dist/test/packaging/"
  "swarm|--test-concurrency=1 --test-timeout=900000 dist/test/swarm/"
)

# `scripts/test.sh GROUP...` runs only those groups (`make test-chaos`).
only=" $* "
failed=()
summary=""
for g in "${GROUPS_RUN[@]}"; do
  name=${g%%|*}
  [ $# -gt 0 ] && [[ "$only" != *" $name "* ]] && continue
  read -r -a args <<<"${g#*|}"
  t0=$(date +%s)
  [ "$name" = chaos ] && [ ! -d dist/test/chaos ] && continue
  node --test --test-reporter=spec --test-reporter-destination=stdout \
    --test-reporter="$REPORTER" --test-reporter-destination="$RESULTS/$name.failures" "${args[@]}" 2>&1 | tee "$RESULTS/$name.log"
  rc=${PIPESTATUS[0]}
  summary+="$(printf '%-12s %4d s  %s' "$name" $(( $(date +%s) - t0 )) "$([ $rc = 0 ] && echo ok || echo "FAILED (exit $rc)")")"$'\n'
  [ $rc = 0 ] || failed+=("$name")
done

echo
echo "---- test groups ----"
printf '%s' "$summary"
# The chaos scenarios' figures (lines "# chaos | scenario | figures" that their tests print).
if grep -qh '^# chaos | ' "$RESULTS"/*.log 2>/dev/null; then
  echo "---- chaos scenarios ----"
  grep -h '^# chaos | ' "$RESULTS"/*.log | sed 's/^# chaos | //'
fi
if [ ${#failed[@]} -gt 0 ]; then
  echo "---- failures, in the order they happened ----"
  for name in "${failed[@]}"; do cat "$RESULTS/$name.failures" 2>/dev/null; done
  exit 1
fi
