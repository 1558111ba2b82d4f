#!/usr/bin/env bash
# Runs a command with the local stack up. A healthy stack that is already running is used and
# left running; otherwise the stack is started for the command and stopped afterwards, also when
# the command fails or the run is interrupted. Exit code = the command's.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
STACK="$HERE/stack.sh"

if [[ $# -eq 0 ]]; then echo "usage: infra/with-stack.sh <command...>" >&2; exit 2; fi

owned=0
if ! bash "$STACK" status >/dev/null 2>&1; then
  owned=1
  trap 'bash "$STACK" stop' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
fi
settings="$(bash "$STACK" start)"
while IFS='=' read -r name value; do
  [[ "$name" == STO_* ]] && export "$name=$value"
done <<<"$settings"
[[ $owned -eq 1 ]] && echo "with-stack: started the stack for this command; it stops when the command ends" >&2

set +e
"$@"
code=$?
set -e
exit $code
