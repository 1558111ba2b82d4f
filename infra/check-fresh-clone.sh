#!/usr/bin/env bash
# Proves that the repository stands alone: clones the current commit into a new temporary
# folder with nothing beside it, runs `npm install` (the lock file must not change) and
# `npm run bench -- --smoke` (every benchmark section at its smallest size, on a stack of the
# clone's own, on ports of its own), and checks that BENCHMARKS.md was written and that
# nothing else in the clone changed. `.ci/run` runs it after the tests.
#
#   infra/check-fresh-clone.sh [--quick]    (--quick: the bench's --quick sizes instead of --smoke)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SIZE="--smoke"
[[ "${1:-}" == "--quick" ]] && SIZE="--quick"

say() { printf 'fresh-clone: %s\n' "$*" >&2; }
fail() { printf 'fresh-clone: FAILED: %s\n' "$*" >&2; exit 1; }

WORK="$(mktemp -d)"
CLONE="$WORK/kafka-sto"
cleanup() {
  # The bench stops the stack it started; this is for a run interrupted in the middle.
  [[ -f "$CLONE/infra/stack.sh" ]] && bash "$CLONE/infra/stack.sh" stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# A stack beside any other one that may be running (the developer's, or the tests').
export STO_STACK_NAME=fresh-clone STO_STACK_KAFKA_PORT=9192 STO_STACK_CONTROLLER_PORT=9193 \
  STO_STACK_REGISTRY_PORT=8181 STO_STACK_REGISTRY_MANAGEMENT_PORT=9100

git clone --quiet --no-hardlinks "$ROOT" "$CLONE"
cd "$CLONE"
say "cloned $(git rev-parse --short HEAD) into a new temporary folder"

started=$SECONDS
npm install --no-audit --no-fund >"$WORK/npm-install.log" 2>&1 || { tail -20 "$WORK/npm-install.log" >&2; fail "npm install"; }
changed="$(git status --porcelain)"
[[ -z "$changed" ]] || fail "npm install changed the clone: $changed"
say "npm install: done in $((SECONDS - started)) s, working tree clean"

started=$SECONDS
npm run bench -- "$SIZE" >"$WORK/bench.log" 2>&1 || { tail -40 "$WORK/bench.log" >&2; fail "npm run bench -- $SIZE"; }
say "npm run bench -- $SIZE: done in $((SECONDS - started)) s"

for section in 'Model: daily-trigger backtest on git-activity.csv.gz' 'Model: daily-trigger backtest on rails-activity.csv.gz' 'Engine' 'Delay service' 'Outcomes stage'; do
  grep -q "^## ${section}" BENCHMARKS.md || fail "BENCHMARKS.md has no section starting with '${section}'"
done
grep -q "^- mode: ${SIZE}" BENCHMARKS.md || fail "BENCHMARKS.md does not say it was written by a ${SIZE} run"
changed="$(git status --porcelain | grep -v '^ M BENCHMARKS.md$' || true)"
[[ -z "$changed" ]] || fail "the bench left changes beside BENCHMARKS.md: $changed"
say "BENCHMARKS.md written with every section; nothing else changed"
