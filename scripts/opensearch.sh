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
# shellcheck source=lib/service.sh
source "$ROOT/scripts/lib/service.sh"
CONF_DIR="$ROOT/scripts/opensearch"
O="$ROOT/.it/opensearch"
LIB="$O/lib"
CLASSES="$O/classes"
HOME_DIR="$O/home"
LOGS="$O/logs"

HOST=127.0.0.1
PORT="${TRIBUTARY_OPENSEARCH_PORT:-19200}"
TRANSPORT_PORT="${TRIBUTARY_OPENSEARCH_TRANSPORT_PORT:-19300}"
HEAP="${TRIBUTARY_OPENSEARCH_HEAP:-512m}"
MAIN=local.tributary.it.EmbeddedOpenSearch

OS_VERSION="$(svc_pom_property "$CONF_DIR/pom.xml" opensearch.version)"

SVC_NAME=opensearch.sh
SVC_HOME="$O"
SVC_LOCK_TIMEOUT=180
SVC_NOUN=node
SVC_PRODUCT=OpenSearch
SVC_VERSION="$OS_VERSION"
SVC_CMDLINE="$MAIN"
SVC_LOG="$LOGS/stdout.log"
SVC_PORTS=("$PORT" "$TRANSPORT_PORT")
SVC_PORT_ENV=TRIBUTARY_OPENSEARCH_PORT
SVC_JAVA_HINT="OpenSearch 2.x needs Java 11+"
SVC_START_TIMEOUT="${TRIBUTARY_OPENSEARCH_START_TIMEOUT:-120}"
SVC_STOP_TIMEOUT=30
SVC_NOT_READY="not healthy"
SVC_NOT_READY_WHERE="did not become healthy on"

JAVA_OPTS=(
  "-Xms$HEAP" "-Xmx$HEAP"
  -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError
  -Djava.awt.headless=true
  -Dlog4j2.disable.jmx=true
  -Dfile.encoding=UTF-8
  # Netty without Unsafe warnings / extra native probing; OpenSearch's own jvm.options sets these.
  -Dio.netty.noUnsafe=true -Dio.netty.noKeySetOptimization=true -Dio.netty.recycler.maxCapacityPerThread=0
)

svc_address() { echo "http://$HOST:$1"; }

running_port() { cat "$O/http.port" 2>/dev/null || true; }

# Cluster health yellow or green (a single node never gets replicas assigned, so yellow is "ready").
healthy() {
  curl -sf -m 5 "http://$HOST:$1/_cluster/health?wait_for_status=yellow&timeout=2s" >/dev/null 2>&1
}

svc_ready() { healthy "$PORT"; }

svc_answers() { healthy "$1"; }

svc_after_start() { :; }

installed() {
  svc_jars_current "$CONF_DIR/pom.xml" "$LIB" && [[ -f "$LIB/opensearch-$OS_VERSION.jar" && -f "$CLASSES/.src.sha" &&
    "$(cat "$CLASSES/.src.sha")" == "$(sha1sum <"$CONF_DIR/EmbeddedOpenSearch.java")" ]]
}

cmd_install() {
  [[ -n "$OS_VERSION" ]] || die "no <opensearch.version> in $CONF_DIR/pom.xml"
  if installed; then return 0; fi
  [[ -z "$(svc_pid)" ]] || die "the node is running; stop it before installing OpenSearch $OS_VERSION"
  command -v mvn >/dev/null || die "mvn not found (needs Maven and Java 17+)"
  command -v javac >/dev/null || die "javac not found (needs a JDK 17+)"
  mkdir -p "$O"
  svc_jars_current "$CONF_DIR/pom.xml" "$LIB" || svc_maven_install "$CONF_DIR/pom.xml" "$LIB"
  rm -rf "$CLASSES.tmp"
  mkdir -p "$CLASSES.tmp"
  javac -nowarn -cp "$LIB/*" -d "$CLASSES.tmp" "$CONF_DIR/EmbeddedOpenSearch.java" || die "compiling the launcher failed"
  sha1sum <"$CONF_DIR/EmbeddedOpenSearch.java" >"$CLASSES.tmp/.src.sha"
  rm -rf "$CLASSES"
  mv "$CLASSES.tmp" "$CLASSES"
}

svc_prepare() {
  mkdir -p "$HOME_DIR"
  echo "$PORT" >"$O/http.port"
}

svc_java_args() {
  SVC_JAVA_ARGS=("${JAVA_OPTS[@]}" -cp "$CLASSES:$LIB/*" "$MAIN" "$HOME_DIR" "$PORT" "$TRANSPORT_PORT")
}

cmd_start() { svc_start; }
cmd_status() { svc_status; }
cmd_reset() { svc_reset "$HOME_DIR" "$O/http.port"; }

svc_main "install start stop status reset" "${1:-}"
