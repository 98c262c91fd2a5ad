#!/usr/bin/env bash
# Starts, stops or reports every local service the project's integration tests and demos use.
# Each service has its own script next to this one; this runs them in a sensible order.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
action="${1:-status}"
services=(postgres kafka opensearch cassandra schema-registry)
case "$action" in
  start | status) for s in "${services[@]}"; do bash "$here/$s.sh" "$action"; done ;;
  stop) for ((i = ${#services[@]} - 1; i >= 0; i--)); do bash "$here/${services[$i]}.sh" stop; done ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
