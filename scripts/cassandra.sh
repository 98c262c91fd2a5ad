#!/usr/bin/env bash
# Local Apache Cassandra 5.0 node for tests and local runs, without Docker: the jars come from
# Maven Central (scripts/cassandra/pom.xml), the node runs as a plain JVM (CassandraDaemon).
#
#   bash scripts/cassandra.sh install   fetch the jars into .it/cassandra/lib (once per version)
#   bash scripts/cassandra.sh start     start (idempotent), wait until CQL answers, print the address
#   bash scripts/cassandra.sh stop      stop (idempotent)
#   bash scripts/cassandra.sh status    "running <addr>" (exit 0) or "stopped" (exit 3)
#   bash scripts/cassandra.sh reset     stop and delete the data
#
# Env: TRIBUTARY_CASSANDRA_PORT (CQL, default 19042); the storage (gossip) port is the next one
#      (override with TRIBUTARY_CASSANDRA_STORAGE_PORT).
#      TRIBUTARY_CASSANDRA_START_TIMEOUT seconds to wait for CQL (default 180).
#      TRIBUTARY_CASSANDRA_HEAP heap size (default 1g).
set -euo pipefail

# Resolve everything from the script location so it works from any cwd.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=lib/service.sh
source "$ROOT/scripts/lib/service.sh"
CONF_DIR="$ROOT/scripts/cassandra"
C="$ROOT/.it/cassandra"
LIB="$C/lib"
DATA="$C/data"
LOGS="$C/logs"

HOST=127.0.0.1
PORT="${TRIBUTARY_CASSANDRA_PORT:-19042}"
STORAGE_PORT="${TRIBUTARY_CASSANDRA_STORAGE_PORT:-$((PORT + 1))}"
ADDR="$HOST:$PORT"
HEAP="${TRIBUTARY_CASSANDRA_HEAP:-1g}"

# The pinned version lives in the pom only.
CASSANDRA_VERSION="$(svc_pom_property "$CONF_DIR/pom.xml" cassandra.version)"

SVC_NAME=cassandra.sh
SVC_HOME="$C"
SVC_LOCK_TIMEOUT=300
SVC_NOUN=node
SVC_PRODUCT=Cassandra
SVC_VERSION="$CASSANDRA_VERSION"
SVC_CMDLINE='CassandraDaemon'
SVC_LOG="$LOGS/system.log"
SVC_PORTS=("$PORT" "$STORAGE_PORT")
SVC_PORT_ENV=TRIBUTARY_CASSANDRA_PORT
SVC_JAVA_HINT="Cassandra 5.0 needs Java 11 or 17"
SVC_START_TIMEOUT="${TRIBUTARY_CASSANDRA_START_TIMEOUT:-180}"
# SIGTERM runs the shutdown hook (drains, flushes the commit log): a few seconds.
SVC_STOP_TIMEOUT=30
SVC_NOT_READY="not answering"
SVC_NOT_READY_WHERE="did not answer CQL on"

# The java arguments (after install: jamm is looked up in the lib dir).
svc_java_args() {
  local jamm
  jamm="$(find "$LIB" -maxdepth 1 -name 'jamm-*.jar' | head -n 1)"
  SVC_JAVA_ARGS=(
    -Xms"$HEAP" -Xmx"$HEAP" -XX:+UseG1GC -XX:MaxGCPauseMillis=300 -XX:+ExitOnOutOfMemoryError
    -Xss256k -Djava.net.preferIPv4Stack=true -Djava.awt.headless=true
    # jamm measures memtable sizes; cassandra-env.sh loads it as an agent.
    ${jamm:+-javaagent:"$jamm"}
    # The JPMS lines of 5.0's conf/jvm17-server.options: without them chronicle, jamm and netty fail
    # with InaccessibleObjectException.
    -Djdk.attach.allowAttachSelf=true
    --add-exports java.base/jdk.internal.misc=ALL-UNNAMED
    --add-exports java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED
    --add-exports java.rmi/sun.rmi.registry=ALL-UNNAMED
    --add-exports java.rmi/sun.rmi.server=ALL-UNNAMED
    --add-exports java.sql/java.sql=ALL-UNNAMED
    --add-exports java.base/java.lang.ref=ALL-UNNAMED
    --add-exports jdk.unsupported/sun.misc=ALL-UNNAMED
    --add-exports jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED
    --add-exports jdk.attach/sun.tools.attach=ALL-UNNAMED
    --add-opens java.base/java.lang.module=ALL-UNNAMED
    --add-opens java.base/jdk.internal.loader=ALL-UNNAMED
    --add-opens java.base/jdk.internal.ref=ALL-UNNAMED
    --add-opens java.base/jdk.internal.reflect=ALL-UNNAMED
    --add-opens java.base/jdk.internal.math=ALL-UNNAMED
    --add-opens java.base/jdk.internal.module=ALL-UNNAMED
    --add-opens java.base/jdk.internal.util.jar=ALL-UNNAMED
    --add-opens jdk.management/com.sun.management.internal=ALL-UNNAMED
    --add-opens java.base/sun.nio.ch=ALL-UNNAMED
    --add-opens java.base/java.io=ALL-UNNAMED
    --add-opens java.base/java.lang.reflect=ALL-UNNAMED
    --add-opens jdk.compiler/com.sun.tools.javac=ALL-UNNAMED
    --add-opens java.base/java.lang=ALL-UNNAMED
    --add-opens java.base/java.util=ALL-UNNAMED
    --add-opens java.base/java.nio=ALL-UNNAMED
    --add-opens java.base/java.net=ALL-UNNAMED
    --add-opens java.base/java.util.concurrent=ALL-UNNAMED
    --add-opens java.base/java.util.concurrent.atomic=ALL-UNNAMED
    -Dio.netty.tryReflectionSetAccessible=true
    -Dio.netty.allocator.useCacheForAllThreads=true -Dio.netty.allocator.maxOrder=11
    # Where things are.
    -Dcassandra.config="file://$C/cassandra.yaml"
    -Dcassandra-foreground=yes
    -Dcassandra.storagedir="$DATA"
    -Dcassandra.logdir="$LOGS"
    -Dlogback.configurationFile="$CONF_DIR/logback.xml"
    # Speed-ups for a single throwaway node: no gossip settling wait, no fsync of system tables,
    # replication factor 1 for the distributed system keyspaces, short ring delay.
    -Dcassandra.skip_wait_for_gossip_to_settle=0
    -Dcassandra.unsafesystem=true
    -Dcassandra.system_distributed.default_rf=1
    -Dcassandra.system_traces.default_rf=1
    -Dcassandra.system_auth.default_rf=1
    -Dcassandra.ring_delay_ms=1000
    -cp "$LIB/*" org.apache.cassandra.service.CassandraDaemon
  )
}

svc_address() { echo "$HOST:$1"; }

# CQL port of the running node: the rendered config is only rewritten when launching, so it always
# matches the live process.
running_port() {
  sed -n 's|^native_transport_port: *\([0-9]*\)$|\1|p' "$C/cassandra.yaml" 2>/dev/null || true
}

# A real CQL round trip with the npm cassandra-driver: SELECT from system.local. Returns 0 when the
# node answers, 2 when node/the driver are not available (the caller falls back to the log line).
cql_probe() {
  CQL_ADDR="$ADDR" svc_node cassandra-driver 20 '
    const cassandra = require("cassandra-driver");
    const client = new cassandra.Client({ contactPoints: [process.env.CQL_ADDR], localDataCenter: "datacenter1",
      socketOptions: { connectTimeout: 3000, readTimeout: 5000 } });
    client.connect()
      .then(() => client.execute("SELECT release_version FROM system.local"))
      .then(() => client.shutdown())
      .then(() => process.exit(0), () => process.exit(1));
  '
}

# Ready: port open, then a real CQL round trip.
svc_ready() { port_open "$PORT" && svc_probe_or_log cql_probe 'Starting listening for CQL clients'; }

svc_answers() { port_open "$1"; }

svc_after_start() { :; }

cmd_install() { svc_install_jars "$CONF_DIR/pom.xml" "$LIB" "cassandra-all-$CASSANDRA_VERSION.jar" cassandra.version; }

# Render the cassandra.yaml template with the ports and data dir of this run. The node remembers its
# own address and ports in the system keyspace: a port change means a fresh (test) data dir.
svc_prepare() {
  sed -e "s|@NATIVE_PORT@|$PORT|g" -e "s|@STORAGE_PORT@|$STORAGE_PORT|g" -e "s|@DATA_DIR@|$DATA|g" \
    "$CONF_DIR/cassandra.yaml" >"$C/cassandra.yaml"
  local stamp="$PORT/$STORAGE_PORT"
  svc_data_dir_for "$DATA" "$C/data.ports" "$stamp"
  echo "$stamp" >"$C/data.ports"
}

cmd_start() { svc_start; }
cmd_status() { svc_status; }
cmd_reset() { svc_reset "$DATA" "$C/data.ports" "$C/cassandra.yaml"; }

svc_main "install start stop status reset" "${1:-}"
