#!/usr/bin/env bash
# Local Apache Kafka broker (single KRaft node) for tests and local runs, without Docker:
# the jars come from Maven Central (scripts/kafka/pom.xml), the broker runs as a plain JVM.
#
#   bash scripts/kafka.sh install   fetch the jars into .it/kafka/lib (once per version)
#   bash scripts/kafka.sh start     start (idempotent), wait until it answers, print the address
#   bash scripts/kafka.sh stop      stop (idempotent)
#   bash scripts/kafka.sh status    "running <addr>" (exit 0) or "stopped" (exit 3)
#   bash scripts/kafka.sh reset     stop and delete the data
#
# Env: TRIBUTARY_KAFKA_PORT (default 19092); the controller uses the next port
#      (override with TRIBUTARY_KAFKA_CONTROLLER_PORT).
#      TRIBUTARY_KAFKA_START_TIMEOUT seconds to wait for the broker (default 90).
#      TRIBUTARY_KAFKA_HOME instance directory (default .it/kafka), for a second broker.
set -euo pipefail

# Resolve everything from the script location so it works from any cwd.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CONF_DIR="$ROOT/scripts/kafka"
# The instance directory (data, logs, pid); a second broker (e.g. one a test stops and restarts)
# gets its own with TRIBUTARY_KAFKA_HOME. The jars are shared.
K="${TRIBUTARY_KAFKA_HOME:-$ROOT/.it/kafka}"
LIB="$ROOT/.it/kafka/lib"
DATA="$K/data"
LOGS="$K/logs"
PIDFILE="$K/pid"

HOST=127.0.0.1
PORT="${TRIBUTARY_KAFKA_PORT:-19092}"
CONTROLLER_PORT="${TRIBUTARY_KAFKA_CONTROLLER_PORT:-$((PORT + 1))}"
ADDR="$HOST:$PORT"
START_TIMEOUT="${TRIBUTARY_KAFKA_START_TIMEOUT:-90}"
STOP_TIMEOUT=30
# Fixed base64url cluster id: the data dir is always formatted with the same one, so a kept
# data dir never fails with "inconsistent cluster id".
CLUSTER_ID=MkU3OEVBNTcwNTJENDM2Qk

# The pinned version lives in the pom only.
KAFKA_VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$CONF_DIR/pom.xml")"

JAVA_OPTS=(
  -Xms256m -Xmx512m
  -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
  -XX:+ExplicitGCInvokesConcurrent -XX:+ExitOnOutOfMemoryError
  -Djava.awt.headless=true
  -Dkafka.logs.dir="$LOGS"
  -Dlog4j2.configurationFile="$CONF_DIR/log4j2.properties"
)

log() { echo "kafka.sh: $*" >&2; }
die() { log "$*"; exit 1; }

# Serialise start/stop/reset so two concurrent callers (e.g. parallel test setups) don't race.
# fd 9 must never leak into the broker, or it would hold the lock forever (see launch).
lock() {
  mkdir -p "$K"
  exec 9>"$K/lock"
  flock -w 120 9 || die "timed out waiting for $K/lock"
}

# pid of our broker if it is alive, else empty. Checks the command line so a recycled pid
# of some unrelated process is never treated (or killed) as the broker.
broker_pid() {
  local pid
  [[ -f "$PIDFILE" ]] || return 0
  pid="$(cat "$PIDFILE" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 0
  if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'kafka\.Kafka'; then
    echo "$pid"
  fi
}

# Client port of the running broker: the rendered config is only rewritten when launching,
# so it always matches the live process (TRIBUTARY_KAFKA_PORT may differ between calls).
running_port() {
  sed -n 's|^advertised.listeners=PLAINTEXT://[^:]*:\([0-9]*\)$|\1|p' "$K/server.properties" 2>/dev/null || true
}

port_open() { timeout 2 bash -c "exec 3<>/dev/tcp/$HOST/$1" 2>/dev/null; }

node_bin() {
  if [[ -x "$ROOT/node_modules/.bin/node" ]]; then echo "$ROOT/node_modules/.bin/node"; else command -v node || true; fi
}

# A real Kafka round trip: kafkajs admin.describeCluster() (metadata request through the
# advertised listener). Returns 0 when the broker answers with itself as controller.
# Returns 2 when kafkajs/node are not available, so the caller can fall back to the log line.
client_probe() {
  local node
  node="$(node_bin)"
  [[ -n "$node" && -d "$ROOT/node_modules/kafkajs" ]] || return 2
  (cd "$ROOT" && KAFKA_ADDR="$ADDR" timeout 20 "$node" -e '
    const { Kafka, logLevel } = require("kafkajs");
    const kafka = new Kafka({ clientId: "kafka-sh-probe", brokers: [process.env.KAFKA_ADDR],
      logLevel: logLevel.NOTHING, connectionTimeout: 3000, requestTimeout: 5000, retry: { retries: 0 } });
    const admin = kafka.admin();
    (async () => {
      await admin.connect();
      const c = await admin.describeCluster();
      if (!c.brokers.length || c.controller === null || c.controller === undefined) throw new Error("no controller yet");
      await admin.disconnect();
    })().then(() => process.exit(0), () => process.exit(1));
  ' >/dev/null 2>&1)
}

# Best effort, after a fresh launch: create __consumer_offsets and __transaction_state now
# (FindCoordinator creates them lazily), so the first test's group join or InitProducerId does
# not wait for them and kafkajs does not log "coordinator not available" errors. Instant when
# the data dir already has them.
warm_up() {
  local node
  node="$(node_bin)"
  [[ -n "$node" && -d "$ROOT/node_modules/kafkajs" ]] || return 0
  (cd "$ROOT" && KAFKA_ADDR="$ADDR" timeout 30 "$node" -e '
    const { Kafka, logLevel } = require("kafkajs");
    const kafka = new Kafka({ clientId: "kafka-sh-warmup", brokers: [process.env.KAFKA_ADDR], logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    const producer = kafka.producer({ transactionalId: "kafka-sh-warmup", idempotent: true, maxInFlightRequests: 1 });
    (async () => {
      await admin.connect();
      await admin.describeGroups(["kafka-sh-warmup"]); // FindCoordinator(GROUP)
      await producer.connect();
      const tx = await producer.transaction(); // InitProducerId -> FindCoordinator(TRANSACTION)
      await tx.abort(); // empty: kafkajs sends nothing
      await producer.disconnect();
      await admin.disconnect();
    })().then(() => process.exit(0), () => process.exit(1));
  ' >/dev/null 2>&1) || log "warm-up of the internal topics failed (not fatal)"
}

cmd_install() {
  [[ -n "$KAFKA_VERSION" ]] || die "no <kafka.version> in $CONF_DIR/pom.xml"
  # Skip when the lib dir was filled from this exact pom (version marker + main jar present).
  if [[ -f "$LIB/.pom.sha" && "$(cat "$LIB/.pom.sha")" == "$(sha1sum <"$CONF_DIR/pom.xml")" &&
    -f "$LIB/kafka_2.13-$KAFKA_VERSION.jar" ]]; then
    return 0
  fi
  # Never swap jars under a running JVM (only reachable via a direct `install` after a bump).
  [[ -z "$(broker_pid)" ]] || die "the broker is running; stop it before installing Kafka $KAFKA_VERSION"
  command -v mvn >/dev/null || die "mvn not found (needs Maven and Java 17+)"
  log "installing Kafka $KAFKA_VERSION jars from Maven Central into $LIB ..."
  mkdir -p "$K"
  # Copy into a temp dir first so an interrupted download never looks installed.
  rm -rf "$LIB.tmp"
  # (sed strips the colour codes Maven 3.8 prints even with -B -q.)
  mvn -B -q -f "$CONF_DIR/pom.xml" \
    org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
    -DoutputDirectory="$LIB.tmp" -DincludeScope=runtime 2>&1 | sed 's/\x1b\[[0-9;]*m//g' >&2 ||
    die "maven could not fetch the Kafka jars"
  sha1sum <"$CONF_DIR/pom.xml" >"$LIB.tmp/.pom.sha"
  rm -rf "$LIB"
  mv "$LIB.tmp" "$LIB"
  log "installed $(find "$LIB" -name '*.jar' | wc -l) jars"
}

# Render the server.properties template with the ports and data dir of this run.
render_config() {
  sed -e "s|@PORT@|$PORT|g" -e "s|@CONTROLLER_PORT@|$CONTROLLER_PORT|g" -e "s|@DATA_DIR@|$DATA|g" \
    "$CONF_DIR/server.properties" >"$K/server.properties"
}

format_storage() {
  # The data dir remembers the ports it was formatted for: the KRaft quorum state refers to the
  # controller address, so a port change means a fresh (test) data dir.
  local stamp="$PORT/$CONTROLLER_PORT"
  if [[ -d "$DATA" && "$(cat "$K/data.ports" 2>/dev/null || true)" != "$stamp" ]]; then
    log "data dir was formatted for other ports; wiping it"
    rm -rf "$DATA"
  fi
  mkdir -p "$DATA"
  if [[ ! -f "$DATA/meta.properties" ]]; then
    java "${JAVA_OPTS[@]}" -cp "$LIB/*" kafka.tools.StorageTool format \
      -t "$CLUSTER_ID" -c "$K/server.properties" --ignore-formatted >"$LOGS/format.log" 2>&1 ||
      { cat "$LOGS/format.log" >&2; die "storage format failed"; }
  fi
  echo "$stamp" >"$K/data.ports"
}

launch() {
  local log_file="$LOGS/server.log"
  # Keep the previous run's log for post-mortems.
  [[ -f "$log_file" ]] && mv -f "$log_file" "$log_file.1"
  # setsid + nohup: own session, so the broker survives the calling shell / CI step and is not
  # hit by its Ctrl-C or process-group kill. The inner shell writes its own pid and then execs
  # java, so the pid file holds the JVM's pid. 9>&- drops the lock fd.
  # shellcheck disable=SC2016 # $$ and $@ are for the inner shell
  setsid nohup bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$PIDFILE" \
    java "${JAVA_OPTS[@]}" -cp "$LIB/*" kafka.Kafka "$K/server.properties" \
    </dev/null >"$log_file" 2>&1 9>&- &
  # Wait for the pid file written by the child.
  for _ in $(seq 50); do
    [[ -s "$PIDFILE" ]] && break
    sleep 0.1
  done
}

# Wait until the broker answers: process alive, port open, then a real client round trip.
wait_ready() {
  local t0=$SECONDS pid rc
  while ((SECONDS - t0 < START_TIMEOUT)); do
    pid="$(broker_pid)"
    if [[ -z "$pid" ]]; then
      log "broker process exited during startup; last log lines:"
      tail -n 40 "$LOGS/server.log" >&2 || true
      return 1
    fi
    if port_open "$PORT"; then
      rc=0
      client_probe || rc=$?
      if ((rc == 0)); then return 0; fi
      # No node/kafkajs here: trust the broker's own "started" log line.
      if ((rc == 2)) && grep -q 'Kafka Server started' "$LOGS/server.log" 2>/dev/null; then return 0; fi
    fi
    sleep 0.5
  done
  log "broker did not answer on $ADDR within ${START_TIMEOUT}s; last log lines:"
  tail -n 40 "$LOGS/server.log" >&2 || true
  return 1
}

cmd_start() {
  lock
  local pid t0=$SECONDS
  pid="$(broker_pid)"
  if [[ -n "$pid" && "$(running_port)" != "$PORT" ]]; then
    die "a broker started by this script already runs on $HOST:$(running_port) (pid $pid); stop it first to use port $PORT"
  fi
  if [[ -n "$pid" ]]; then
    # Already ours and running (maybe still starting): just make sure it answers.
    wait_ready || die "broker (pid $pid) is running but not answering; try: bash scripts/kafka.sh reset"
    echo "$ADDR"
    return 0
  fi
  rm -f "$PIDFILE"
  if port_open "$PORT" || port_open "$CONTROLLER_PORT"; then
    die "port $PORT or $CONTROLLER_PORT is already used by another process (not started by this script); set TRIBUTARY_KAFKA_PORT"
  fi
  command -v java >/dev/null || die "java not found (Kafka needs Java 17+)"
  cmd_install
  mkdir -p "$LOGS"
  render_config
  format_storage
  launch
  if ! wait_ready; then
    cmd_stop_locked >/dev/null || true
    die "start failed (full log: $LOGS/server.log)"
  fi
  warm_up
  log "Kafka $KAFKA_VERSION ready on $ADDR after $((SECONDS - t0))s (pid $(cat "$PIDFILE"), log $LOGS/server.log)"
  echo "$ADDR"
}

cmd_stop_locked() {
  local pid
  pid="$(broker_pid)"
  if [[ -z "$pid" ]]; then
    rm -f "$PIDFILE"
    echo "stopped"
    return 0
  fi
  # SIGTERM runs Kafka's shutdown hook (controlled shutdown, flushes logs): a few seconds.
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq $((STOP_TIMEOUT * 5))); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "broker (pid $pid) ignored SIGTERM for ${STOP_TIMEOUT}s; killing it"
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
  pid="$(broker_pid)"
  # Report the port the broker was started with, whatever TRIBUTARY_KAFKA_PORT says now.
  if [[ -n "$pid" && -n "$(running_port)" ]]; then
    PORT="$(running_port)"
    ADDR="$HOST:$PORT"
  fi
  if [[ -n "$pid" ]] && port_open "$PORT"; then
    echo "running $ADDR (pid $pid, Kafka $KAFKA_VERSION)"
    return 0
  elif [[ -n "$pid" ]]; then
    echo "starting $ADDR (pid $pid, not answering yet)"
    return 3
  fi
  echo "stopped"
  return 3
}

cmd_reset() {
  lock
  cmd_stop_locked >/dev/null
  rm -rf "$DATA" "$K/data.ports" "$K/server.properties"
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
