#!/usr/bin/env bash
# Prints the path of a promtool binary, fetching it first when needed: the one on PATH, else the
# one under .stack/promtool/, else Debian's `prometheus` package is downloaded (not installed:
# nothing is started) and its promtool unpacked there. Needs apt-get (Debian or Ubuntu).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="$ROOT/.stack/promtool"
LOCAL="$DIR/usr/bin/promtool"

if command -v promtool >/dev/null 2>&1; then command -v promtool; exit 0; fi
if [[ -x "$LOCAL" ]]; then echo "$LOCAL"; exit 0; fi

command -v apt-get >/dev/null 2>&1 || { echo "promtool: not on PATH and no apt-get to fetch Debian's prometheus package; install promtool" >&2; exit 1; }
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
echo "promtool: downloading Debian's prometheus package for its promtool" >&2
if ! apt-get download prometheus >&2 2>"$WORK/err"; then
  # No package lists yet on a fresh machine.
  apt-get update >&2 || { cat "$WORK/err" >&2; exit 1; }
  apt-get download prometheus >&2
fi
mkdir -p "$DIR"
dpkg-deb -x prometheus_*.deb "$DIR"
[[ -x "$LOCAL" ]] || { echo "promtool: the prometheus package held no usr/bin/promtool" >&2; exit 1; }
"$LOCAL" --version >&2
echo "$LOCAL"
