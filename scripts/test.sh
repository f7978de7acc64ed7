#!/usr/bin/env bash
# The whole test suite (`make test`), group by group: pure logic first (seconds), then real
# OVS/netlink, then end to end under real dockerds, the lab hosts, packaging and swarm.
# Every group runs even after one fails, so one run shows every failure; the failures are
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
  "packaging|--test-concurrency=1 dist/test/packaging/"
  "swarm|--test-concurrency=1 --test-timeout=900000 dist/test/swarm/"
)

failed=()
summary=""
for g in "${GROUPS_RUN[@]}"; do
  name=${g%%|*}
  read -r -a args <<<"${g#*|}"
  t0=$(date +%s)
  node --test --test-reporter=spec --test-reporter-destination=stdout \
    --test-reporter="$REPORTER" --test-reporter-destination="$RESULTS/$name.failures" "${args[@]}"
  rc=$?
  summary+="$(printf '%-12s %4d s  %s' "$name" $(( $(date +%s) - t0 )) "$([ $rc = 0 ] && echo ok || echo "FAILED (exit $rc)")")"$'\n'
  [ $rc = 0 ] || failed+=("$name")
done

echo
echo "---- test groups ----"
printf '%s' "$summary"
if [ ${#failed[@]} -gt 0 ]; then
  echo "---- failures, in the order they happened ----"
  for name in "${failed[@]}"; do cat "$RESULTS/$name.failures" 2>/dev/null; done
  exit 1
fi
