#!/usr/bin/env bash
# Local Confluent-compatible schema registry for tests and local runs, without Docker: Apicurio
# Registry, built from its Maven Central jars (scripts/schema-registry/pom.xml), run as a plain JVM.
# Its Confluent API is at http://127.0.0.1:18081/apis/ccompat/v7 (what SCHEMA_REGISTRY_URL names).
# Schemas are kept in the registry's in-memory store: a restart starts with no schemas.
#
#   bash scripts/schema-registry.sh install   build the runnable registry into .it/schema-registry/app (once per version)
#   bash scripts/schema-registry.sh start     start (idempotent), wait until it answers, print the URL
#   bash scripts/schema-registry.sh stop      stop (idempotent)
#   bash scripts/schema-registry.sh status    "running <url>" (exit 0) or "stopped" (exit 3)
#   bash scripts/schema-registry.sh reset     stop and delete the built registry
#
# Env: TRIBUTARY_SCHEMA_REGISTRY_PORT (default 18081).
#      TRIBUTARY_SCHEMA_REGISTRY_START_TIMEOUT seconds to wait (default 90).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=lib/service.sh
source "$ROOT/scripts/lib/service.sh"
CONF_DIR="$ROOT/scripts/schema-registry"
R="$ROOT/.it/schema-registry"
APP="$R/app"
LOGS="$R/logs"
RUNNER=schema-registry-runtime-1-runner.jar

HOST=127.0.0.1
PORT="${TRIBUTARY_SCHEMA_REGISTRY_PORT:-18081}"

APICURIO_VERSION="$(svc_pom_property "$CONF_DIR/pom.xml" apicurio.version)"

SVC_NAME=schema-registry.sh
SVC_HOME="$R"
SVC_LOCK_TIMEOUT=300
SVC_NOUN=registry
SVC_PRODUCT="Apicurio Registry"
SVC_VERSION="$APICURIO_VERSION"
SVC_CMDLINE="$RUNNER"
SVC_LOG="$LOGS/registry.log"
SVC_PORTS=("$PORT")
SVC_PORT_ENV=TRIBUTARY_SCHEMA_REGISTRY_PORT
SVC_JAVA_HINT="Apicurio Registry 2.4 needs Java 11+"
SVC_START_TIMEOUT="${TRIBUTARY_SCHEMA_REGISTRY_START_TIMEOUT:-90}"
SVC_STOP_TIMEOUT=20
SVC_NOT_READY="not answering"
SVC_NOT_READY_WHERE="did not answer on"

JAVA_OPTS=(
  -Xms64m -Xmx384m
  -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:+ExitOnOutOfMemoryError
  -Djava.awt.headless=true
  -Dquarkus.http.host="$HOST"
  -Dquarkus.http.port="$PORT"
  # A pool of 20 idle connections to an in-memory database only slows the start.
  -Dquarkus.datasource.jdbc.initial-size=2 -Dquarkus.datasource.jdbc.min-size=2
)

svc_address() { echo "http://$HOST:$1/apis/ccompat/v7"; }

running_port() { cat "$R/http.port" 2>/dev/null || true; }

# A real round trip through the Confluent-compatible API.
answers() { curl -sf -m 5 "http://$HOST:$1/apis/ccompat/v7/subjects" >/dev/null 2>&1; }

svc_ready() { answers "$PORT"; }
svc_answers() { answers "$1"; }
svc_after_start() { :; }

# The pom and the one Java source, hashed together: a change to either rebuilds.
source_hash() { cat "$CONF_DIR/pom.xml" "$CONF_DIR"/src/main/java/local/tributary/registry/*.java | sha1sum; }

cmd_install() {
  [[ -n "$SVC_VERSION" ]] || die "no <apicurio.version> in $CONF_DIR/pom.xml"
  if [[ -f "$APP/$RUNNER" && "$(cat "$APP/.src.sha" 2>/dev/null || true)" == "$(source_hash)" ]]; then return 0; fi
  [[ -z "$(svc_pid)" ]] || die "the registry is running; stop it before installing $SVC_PRODUCT $SVC_VERSION"
  command -v mvn >/dev/null || die "mvn not found (needs Maven and Java 11+)"
  log "building $SVC_PRODUCT $SVC_VERSION from Maven Central into $APP ..."
  local build="$R/build"
  rm -rf "$build" "$APP.tmp"
  mkdir -p "$build"
  cp -r "$CONF_DIR/pom.xml" "$CONF_DIR/src" "$build/"
  # (sed strips the colour codes Maven 3.8 prints even with -B -q.)
  mvn -B -q -f "$build/pom.xml" package -DskipTests 2>&1 | sed 's/\x1b\[[0-9;]*m//g' >&2 ||
    die "maven could not build the registry"
  mkdir -p "$APP.tmp"
  mv "$build/target/$RUNNER" "$build/target/lib" "$APP.tmp/"
  source_hash >"$APP.tmp/.src.sha"
  rm -rf "$APP" "$build"
  mv "$APP.tmp" "$APP"
  log "installed ($(find "$APP/lib" -name '*.jar' | wc -l) jars)"
}

svc_prepare() { echo "$PORT" >"$R/http.port"; }

svc_java_args() { SVC_JAVA_ARGS=("${JAVA_OPTS[@]}" -jar "$APP/$RUNNER"); }

cmd_start() { svc_start; }
cmd_status() { svc_status; }
cmd_reset() { svc_reset "$APP" "$R/build" "$R/http.port"; }

svc_main "install start stop status reset" "${1:-}"
