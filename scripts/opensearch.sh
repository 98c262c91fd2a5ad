#!/usr/bin/env bash
# Local OpenSearch 2.x node (single node, plain HTTP, no security plugin) for tests and local runs,
# without Docker: the jars come from Maven Central (scripts/opensearch/pom.xml) and a tiny launcher
# (scripts/opensearch/EmbeddedOpenSearch.java) starts an embedded node with its plugins from the classpath.
#
#   bash scripts/opensearch.sh install   fetch the jars into .it/opensearch/lib and compile the launcher (once)
#   bash scripts/opensearch.sh start     start (idempotent), wait for cluster health yellow, print the URL
#   bash scripts/opensearch.sh stop      stop (idempotent)
#   bash scripts/opensearch.sh status    "running <url>" (exit 0) or "stopped" (exit 3)
#   bash scripts/opensearch.sh reset     stop and delete the data
#
# Env: TRIBUTARY_OPENSEARCH_PORT (HTTP, default 19200); transport uses TRIBUTARY_OPENSEARCH_TRANSPORT_PORT
#      (default 19300). TRIBUTARY_OPENSEARCH_START_TIMEOUT seconds (default 120).
#      TRIBUTARY_OPENSEARCH_HEAP (default 512m).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CONF_DIR="$ROOT/scripts/opensearch"
O="$ROOT/.it/opensearch"
LIB="$O/lib"
CLASSES="$O/classes"
HOME_DIR="$O/home"
LOGS="$O/logs"
PIDFILE="$O/pid"

HOST=127.0.0.1
PORT="${TRIBUTARY_OPENSEARCH_PORT:-19200}"
TRANSPORT_PORT="${TRIBUTARY_OPENSEARCH_TRANSPORT_PORT:-19300}"
URL="http://$HOST:$PORT"
START_TIMEOUT="${TRIBUTARY_OPENSEARCH_START_TIMEOUT:-120}"
HEAP="${TRIBUTARY_OPENSEARCH_HEAP:-512m}"
STOP_TIMEOUT=30
MAIN=local.tributary.it.EmbeddedOpenSearch

OS_VERSION="$(sed -n 's:.*<opensearch.version>\(.*\)</opensearch.version>.*:\1:p' "$CONF_DIR/pom.xml")"

JAVA_OPTS=(
  "-Xms$HEAP" "-Xmx$HEAP"
  -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError
  -Djava.awt.headless=true
  -Dlog4j2.disable.jmx=true
  -Dfile.encoding=UTF-8
  # Netty without Unsafe warnings / extra native probing; OpenSearch's own jvm.options sets these.
  -Dio.netty.noUnsafe=true -Dio.netty.noKeySetOptimization=true -Dio.netty.recycler.maxCapacityPerThread=0
)

log() { echo "opensearch.sh: $*" >&2; }
die() { log "$*"; exit 1; }

# Serialise start/stop/reset between concurrent callers; fd 9 never leaks into the JVM (see launch).
lock() {
  mkdir -p "$O"
  exec 9>"$O/lock"
  flock -w 180 9 || die "timed out waiting for $O/lock"
}

# pid of our node if alive; the command line is checked so a recycled pid is never ours by mistake.
node_pid() {
  local pid
  [[ -f "$PIDFILE" ]] || return 0
  pid="$(cat "$PIDFILE" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 0
  if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "$MAIN"; then
    echo "$pid"
  fi
}

running_port() { cat "$O/http.port" 2>/dev/null || true; }

port_open() { timeout 2 bash -c "exec 3<>/dev/tcp/$HOST/$1" 2>/dev/null; }

# Cluster health yellow or green (a single node never gets replicas assigned, so yellow is "ready").
healthy() {
  curl -sf -m 5 "http://$HOST:$1/_cluster/health?wait_for_status=yellow&timeout=2s" >/dev/null 2>&1
}

installed() {
  [[ -f "$LIB/.pom.sha" && "$(cat "$LIB/.pom.sha")" == "$(sha1sum <"$CONF_DIR/pom.xml")" &&
    -f "$LIB/opensearch-$OS_VERSION.jar" && -f "$CLASSES/.src.sha" &&
    "$(cat "$CLASSES/.src.sha")" == "$(sha1sum <"$CONF_DIR/EmbeddedOpenSearch.java")" ]]
}

cmd_install() {
  [[ -n "$OS_VERSION" ]] || die "no <opensearch.version> in $CONF_DIR/pom.xml"
  installed && return 0
  [[ -z "$(node_pid)" ]] || die "the node is running; stop it before installing OpenSearch $OS_VERSION"
  command -v mvn >/dev/null || die "mvn not found (needs Maven and Java 17+)"
  command -v javac >/dev/null || die "javac not found (needs a JDK 17+)"
  mkdir -p "$O"
  if [[ ! -f "$LIB/.pom.sha" || "$(cat "$LIB/.pom.sha")" != "$(sha1sum <"$CONF_DIR/pom.xml")" ]]; then
    log "installing OpenSearch $OS_VERSION jars from Maven Central into $LIB ..."
    rm -rf "$LIB.tmp"
    mvn -B -q -f "$CONF_DIR/pom.xml" \
      org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
      -DoutputDirectory="$LIB.tmp" -DincludeScope=runtime 2>&1 | sed 's/\x1b\[[0-9;]*m//g' >&2 ||
      die "maven could not fetch the OpenSearch jars"
    sha1sum <"$CONF_DIR/pom.xml" >"$LIB.tmp/.pom.sha"
    rm -rf "$LIB"
    mv "$LIB.tmp" "$LIB"
    log "installed $(find "$LIB" -name '*.jar' | wc -l) jars"
  fi
  rm -rf "$CLASSES.tmp"
  mkdir -p "$CLASSES.tmp"
  javac -nowarn -cp "$LIB/*" -d "$CLASSES.tmp" "$CONF_DIR/EmbeddedOpenSearch.java" || die "compiling the launcher failed"
  sha1sum <"$CONF_DIR/EmbeddedOpenSearch.java" >"$CLASSES.tmp/.src.sha"
  rm -rf "$CLASSES"
  mv "$CLASSES.tmp" "$CLASSES"
}

launch() {
  local log_file="$LOGS/stdout.log"
  [[ -f "$log_file" ]] && mv -f "$log_file" "$log_file.1"
  echo "$PORT" >"$O/http.port"
  # Own session (setsid) so the node outlives the calling shell and its Ctrl-C; the inner shell
  # writes its pid and execs java, so the pid file holds the JVM's pid. 9>&- drops the lock fd.
  # shellcheck disable=SC2016
  setsid nohup bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$PIDFILE" \
    java "${JAVA_OPTS[@]}" -cp "$CLASSES:$LIB/*" "$MAIN" "$HOME_DIR" "$PORT" "$TRANSPORT_PORT" \
    </dev/null >"$log_file" 2>&1 9>&- &
  for _ in $(seq 50); do
    [[ -s "$PIDFILE" ]] && break
    sleep 0.1
  done
}

wait_ready() {
  local t0=$SECONDS
  while ((SECONDS - t0 < START_TIMEOUT)); do
    if [[ -z "$(node_pid)" ]]; then
      log "node exited during startup; last log lines:"
      tail -n 40 "$LOGS/stdout.log" >&2 || true
      return 1
    fi
    healthy "$PORT" && return 0
    sleep 0.5
  done
  log "node did not become healthy on $URL within ${START_TIMEOUT}s; last log lines:"
  tail -n 40 "$LOGS/stdout.log" >&2 || true
  return 1
}

cmd_start() {
  lock
  local pid t0=$SECONDS
  pid="$(node_pid)"
  if [[ -n "$pid" && "$(running_port)" != "$PORT" ]]; then
    die "a node started by this script already runs on $HOST:$(running_port) (pid $pid); stop it first to use port $PORT"
  fi
  if [[ -n "$pid" ]]; then
    wait_ready || die "node (pid $pid) is running but not healthy; try: bash scripts/opensearch.sh reset"
    echo "$URL"
    return 0
  fi
  rm -f "$PIDFILE"
  if port_open "$PORT" || port_open "$TRANSPORT_PORT"; then
    die "port $PORT or $TRANSPORT_PORT is already used by another process (not started by this script); set TRIBUTARY_OPENSEARCH_PORT"
  fi
  command -v java >/dev/null || die "java not found (OpenSearch 2.x needs Java 11+)"
  cmd_install
  mkdir -p "$LOGS" "$HOME_DIR"
  launch
  if ! wait_ready; then
    cmd_stop_locked >/dev/null || true
    die "start failed (full log: $LOGS/stdout.log)"
  fi
  log "OpenSearch $OS_VERSION ready on $URL after $((SECONDS - t0))s (pid $(cat "$PIDFILE"), log $LOGS/stdout.log)"
  echo "$URL"
}

cmd_stop_locked() {
  local pid
  pid="$(node_pid)"
  if [[ -z "$pid" ]]; then
    rm -f "$PIDFILE"
    echo "stopped"
    return 0
  fi
  # A stopped (SIGSTOP) JVM cannot handle SIGTERM: continue it first.
  kill -CONT "$pid" 2>/dev/null || true
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq $((STOP_TIMEOUT * 5))); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "node (pid $pid) ignored SIGTERM for ${STOP_TIMEOUT}s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  fi
  rm -f "$PIDFILE"
  echo "stopped"
}

cmd_stop() {
  lock
  cmd_stop_locked
}

cmd_status() {
  local pid
  pid="$(node_pid)"
  if [[ -n "$pid" && -n "$(running_port)" ]]; then
    PORT="$(running_port)"
    URL="http://$HOST:$PORT"
  fi
  if [[ -n "$pid" ]] && healthy "$PORT"; then
    echo "running $URL (pid $pid, OpenSearch $OS_VERSION)"
    return 0
  elif [[ -n "$pid" ]]; then
    echo "starting $URL (pid $pid, not healthy yet)"
    return 3
  fi
  echo "stopped"
  return 3
}

cmd_reset() {
  lock
  cmd_stop_locked >/dev/null
  rm -rf "$HOME_DIR" "$O/http.port"
  echo "reset (data deleted)"
}

case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  reset) cmd_reset ;;
  *)
    echo "usage: $0 {install|start|stop|status|reset}" >&2
    exit 2
    ;;
esac
