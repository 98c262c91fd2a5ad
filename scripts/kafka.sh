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
# shellcheck source=lib/service.sh
source "$ROOT/scripts/lib/service.sh"
CONF_DIR="$ROOT/scripts/kafka"
# The instance directory (data, logs, pid); a second broker (e.g. one a test stops and restarts)
# gets its own with TRIBUTARY_KAFKA_HOME. The jars are shared.
K="${TRIBUTARY_KAFKA_HOME:-$ROOT/.it/kafka}"
LIB="$ROOT/.it/kafka/lib"
DATA="$K/data"
LOGS="$K/logs"

HOST=127.0.0.1
PORT="${TRIBUTARY_KAFKA_PORT:-19092}"
CONTROLLER_PORT="${TRIBUTARY_KAFKA_CONTROLLER_PORT:-$((PORT + 1))}"
ADDR="$HOST:$PORT"
# Fixed base64url cluster id: the data dir is always formatted with the same one, so a kept
# data dir never fails with "inconsistent cluster id".
CLUSTER_ID=MkU3OEVBNTcwNTJENDM2Qk

# The pinned version lives in the pom only.
KAFKA_VERSION="$(svc_pom_property "$CONF_DIR/pom.xml" kafka.version)"

SVC_NAME=kafka.sh
SVC_HOME="$K"
SVC_LOCK_TIMEOUT=120
SVC_NOUN=broker
SVC_PRODUCT=Kafka
SVC_VERSION="$KAFKA_VERSION"
SVC_CMDLINE='kafka\.Kafka'
SVC_LOG="$LOGS/server.log"
SVC_PORTS=("$PORT" "$CONTROLLER_PORT")
SVC_PORT_ENV=TRIBUTARY_KAFKA_PORT
SVC_JAVA_HINT="Kafka needs Java 17+"
SVC_START_TIMEOUT="${TRIBUTARY_KAFKA_START_TIMEOUT:-90}"
# SIGTERM runs Kafka's shutdown hook (controlled shutdown, flushes logs): a few seconds.
SVC_STOP_TIMEOUT=30
SVC_NOT_READY="not answering"
SVC_NOT_READY_WHERE="did not answer on"

JAVA_OPTS=(
  -Xms256m -Xmx512m
  -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
  -XX:+ExplicitGCInvokesConcurrent -XX:+ExitOnOutOfMemoryError
  -Djava.awt.headless=true
  -Dkafka.logs.dir="$LOGS"
  -Dlog4j2.configurationFile="$CONF_DIR/log4j2.properties"
)

svc_address() { echo "$HOST:$1"; }

# Client port of the running broker: the rendered config is only rewritten when launching,
# so it always matches the live process (TRIBUTARY_KAFKA_PORT may differ between calls).
running_port() {
  sed -n 's|^advertised.listeners=PLAINTEXT://[^:]*:\([0-9]*\)$|\1|p' "$K/server.properties" 2>/dev/null || true
}

# A real Kafka round trip: kafkajs admin.describeCluster() (metadata request through the
# advertised listener). Returns 0 when the broker answers with itself as controller.
# Returns 2 when kafkajs/node are not available, so the caller can fall back to the log line.
client_probe() {
  KAFKA_ADDR="$ADDR" svc_node kafkajs 20 '
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
  '
}

# Ready: port open, then a real client round trip (without node/kafkajs here: the broker's own
# "started" log line).
svc_ready() { port_open "$PORT" && svc_probe_or_log client_probe 'Kafka Server started'; }

svc_answers() { port_open "$1"; }

# Best effort, after a fresh launch: create __consumer_offsets and __transaction_state now
# (FindCoordinator creates them lazily), so the first test's group join or InitProducerId does
# not wait for them and kafkajs does not log "coordinator not available" errors. Instant when
# the data dir already has them.
svc_after_start() {
  local rc=0
  KAFKA_ADDR="$ADDR" svc_node kafkajs 30 '
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
  ' || rc=$?
  # 2: no node/kafkajs here, nothing to warm up with.
  if ((rc == 1 || rc > 2)); then log "warm-up of the internal topics failed (not fatal)"; fi
}

cmd_install() { svc_install_jars "$CONF_DIR/pom.xml" "$LIB" "kafka_2.13-$KAFKA_VERSION.jar" kafka.version; }

# Render the server.properties template with the ports and data dir of this run, and format the
# data dir when it is new.
svc_prepare() {
  sed -e "s|@PORT@|$PORT|g" -e "s|@CONTROLLER_PORT@|$CONTROLLER_PORT|g" -e "s|@DATA_DIR@|$DATA|g" \
    "$CONF_DIR/server.properties" >"$K/server.properties"
  # The KRaft quorum state refers to the controller address: a port change means a fresh data dir.
  local stamp="$PORT/$CONTROLLER_PORT"
  svc_data_dir_for "$DATA" "$K/data.ports" "$stamp"
  if [[ ! -f "$DATA/meta.properties" ]]; then
    java "${JAVA_OPTS[@]}" -cp "$LIB/*" kafka.tools.StorageTool format \
      -t "$CLUSTER_ID" -c "$K/server.properties" --ignore-formatted >"$LOGS/format.log" 2>&1 ||
      { cat "$LOGS/format.log" >&2; die "storage format failed"; }
  fi
  echo "$stamp" >"$K/data.ports"
}

svc_java_args() { SVC_JAVA_ARGS=("${JAVA_OPTS[@]}" -cp "$LIB/*" kafka.Kafka "$K/server.properties"); }

cmd_start() { svc_start; }
cmd_status() { svc_status; }
cmd_reset() { svc_reset "$DATA" "$K/data.ports" "$K/server.properties"; }

svc_main "install start stop status reset" "${1:-}"
