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
CONF_DIR="$ROOT/scripts/cassandra"
C="$ROOT/.it/cassandra"
LIB="$C/lib"
DATA="$C/data"
LOGS="$C/logs"
PIDFILE="$C/pid"

HOST=127.0.0.1
PORT="${TRIBUTARY_CASSANDRA_PORT:-19042}"
STORAGE_PORT="${TRIBUTARY_CASSANDRA_STORAGE_PORT:-$((PORT + 1))}"
ADDR="$HOST:$PORT"
START_TIMEOUT="${TRIBUTARY_CASSANDRA_START_TIMEOUT:-180}"
HEAP="${TRIBUTARY_CASSANDRA_HEAP:-1g}"
STOP_TIMEOUT=30

# The pinned version lives in the pom only.
CASSANDRA_VERSION="$(sed -n 's:.*<cassandra.version>\(.*\)</cassandra.version>.*:\1:p' "$CONF_DIR/pom.xml")"

jvm_opts() {
  local jamm
  jamm="$(find "$LIB" -maxdepth 1 -name 'jamm-*.jar' | head -n 1)"
  JAVA_OPTS=(
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
  )
}

log() { echo "cassandra.sh: $*" >&2; }
die() { log "$*"; exit 1; }

# Serialise start/stop/reset so two concurrent callers (e.g. parallel test setups) don't race.
# fd 9 must never leak into the node, or it would hold the lock forever (see launch).
lock() {
  mkdir -p "$C"
  exec 9>"$C/lock"
  flock -w 300 9 || die "timed out waiting for $C/lock"
}

# pid of our node if it is alive, else empty. Checks the command line so a recycled pid of some
# unrelated process is never treated (or killed) as the node.
node_pid() {
  local pid
  [[ -f "$PIDFILE" ]] || return 0
  pid="$(cat "$PIDFILE" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 0
  if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'CassandraDaemon'; then
    echo "$pid"
  fi
}

# CQL port of the running node: the rendered config is only rewritten when launching, so it always
# matches the live process.
running_port() {
  sed -n 's|^native_transport_port: *\([0-9]*\)$|\1|p' "$C/cassandra.yaml" 2>/dev/null || true
}

port_open() { timeout 2 bash -c "exec 3<>/dev/tcp/$HOST/$1" 2>/dev/null; }

node_bin() {
  if [[ -x "$ROOT/node_modules/.bin/node" ]]; then echo "$ROOT/node_modules/.bin/node"; else command -v node || true; fi
}

# A real CQL round trip with the npm cassandra-driver: SELECT from system.local. Returns 0 when the
# node answers, 2 when node/the driver are not available (the caller falls back to the log line).
cql_probe() {
  local node
  node="$(node_bin)"
  [[ -n "$node" && -d "$ROOT/node_modules/cassandra-driver" ]] || return 2
  (cd "$ROOT" && CQL_ADDR="$ADDR" timeout 20 "$node" -e '
    const cassandra = require("cassandra-driver");
    const client = new cassandra.Client({ contactPoints: [process.env.CQL_ADDR], localDataCenter: "datacenter1",
      socketOptions: { connectTimeout: 3000, readTimeout: 5000 } });
    client.connect()
      .then(() => client.execute("SELECT release_version FROM system.local"))
      .then(() => client.shutdown())
      .then(() => process.exit(0), () => process.exit(1));
  ' >/dev/null 2>&1)
}

cmd_install() {
  [[ -n "$CASSANDRA_VERSION" ]] || die "no <cassandra.version> in $CONF_DIR/pom.xml"
  # Skip when the lib dir was filled from this exact pom (pom hash + main jar present).
  if [[ -f "$LIB/.pom.sha" && "$(cat "$LIB/.pom.sha")" == "$(sha1sum <"$CONF_DIR/pom.xml")" &&
    -f "$LIB/cassandra-all-$CASSANDRA_VERSION.jar" ]]; then
    return 0
  fi
  # Never swap jars under a running JVM.
  [[ -z "$(node_pid)" ]] || die "the node is running; stop it before installing Cassandra $CASSANDRA_VERSION"
  command -v mvn >/dev/null || die "mvn not found (needs Maven and Java 17+)"
  log "installing Cassandra $CASSANDRA_VERSION jars from Maven Central into $LIB ..."
  mkdir -p "$C"
  # Copy into a temp dir first so an interrupted download never looks installed.
  rm -rf "$LIB.tmp"
  mvn -B -q -f "$CONF_DIR/pom.xml" \
    org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
    -DoutputDirectory="$LIB.tmp" -DincludeScope=runtime 2>&1 | sed 's/\x1b\[[0-9;]*m//g' >&2 ||
    die "maven could not fetch the Cassandra jars"
  sha1sum <"$CONF_DIR/pom.xml" >"$LIB.tmp/.pom.sha"
  rm -rf "$LIB"
  mv "$LIB.tmp" "$LIB"
  log "installed $(find "$LIB" -name '*.jar' | wc -l) jars"
}

# Render the cassandra.yaml template with the ports and data dir of this run.
render_config() {
  sed -e "s|@NATIVE_PORT@|$PORT|g" -e "s|@STORAGE_PORT@|$STORAGE_PORT|g" -e "s|@DATA_DIR@|$DATA|g" \
    "$CONF_DIR/cassandra.yaml" >"$C/cassandra.yaml"
}

# The node remembers its own address and ports in the system keyspace: a port change means a fresh
# (test) data dir.
check_data_dir() {
  local stamp="$PORT/$STORAGE_PORT"
  if [[ -d "$DATA" && "$(cat "$C/data.ports" 2>/dev/null || true)" != "$stamp" ]]; then
    log "data dir was created for other ports; wiping it"
    rm -rf "$DATA"
  fi
  mkdir -p "$DATA"
  echo "$stamp" >"$C/data.ports"
}

launch() {
  local log_file="$LOGS/system.log"
  # Keep the previous run's log for post-mortems.
  [[ -f "$log_file" ]] && mv -f "$log_file" "$log_file.1"
  jvm_opts
  # setsid + nohup: own session, so the node survives the calling shell / CI step and is not hit by
  # its Ctrl-C or process-group kill. The inner shell writes its own pid and then execs java, so the
  # pid file holds the JVM's pid. 9>&- drops the lock fd.
  # shellcheck disable=SC2016 # $$ and $@ are for the inner shell
  setsid nohup bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$PIDFILE" \
    java "${JAVA_OPTS[@]}" -cp "$LIB/*" org.apache.cassandra.service.CassandraDaemon \
    </dev/null >"$log_file" 2>&1 9>&- &
  for _ in $(seq 50); do
    [[ -s "$PIDFILE" ]] && break
    sleep 0.1
  done
}

# Wait until the node answers: process alive, port open, then a real CQL round trip.
wait_ready() {
  local t0=$SECONDS pid rc
  while ((SECONDS - t0 < START_TIMEOUT)); do
    pid="$(node_pid)"
    if [[ -z "$pid" ]]; then
      log "node process exited during startup; last log lines:"
      tail -n 40 "$LOGS/system.log" >&2 || true
      return 1
    fi
    if port_open "$PORT"; then
      rc=0
      cql_probe || rc=$?
      if ((rc == 0)); then return 0; fi
      if ((rc == 2)) && grep -q 'Starting listening for CQL clients' "$LOGS/system.log" 2>/dev/null; then return 0; fi
    fi
    sleep 0.5
  done
  log "node did not answer CQL on $ADDR within ${START_TIMEOUT}s; last log lines:"
  tail -n 40 "$LOGS/system.log" >&2 || true
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
    # Already ours and running (maybe still starting, or paused by a test): make sure it answers.
    kill -CONT "$pid" 2>/dev/null || true
    wait_ready || die "node (pid $pid) is running but not answering; try: bash scripts/cassandra.sh reset"
    echo "$ADDR"
    return 0
  fi
  rm -f "$PIDFILE"
  if port_open "$PORT" || port_open "$STORAGE_PORT"; then
    die "port $PORT or $STORAGE_PORT is already used by another process (not started by this script); set TRIBUTARY_CASSANDRA_PORT"
  fi
  command -v java >/dev/null || die "java not found (Cassandra 5.0 needs Java 11 or 17)"
  cmd_install
  mkdir -p "$LOGS"
  render_config
  check_data_dir
  launch
  if ! wait_ready; then
    cmd_stop_locked >/dev/null || true
    die "start failed (full log: $LOGS/system.log)"
  fi
  log "Cassandra $CASSANDRA_VERSION ready on $ADDR after $((SECONDS - t0))s (pid $(cat "$PIDFILE"), log $LOGS/system.log)"
  echo "$ADDR"
}

cmd_stop_locked() {
  local pid
  pid="$(node_pid)"
  if [[ -z "$pid" ]]; then
    rm -f "$PIDFILE"
    echo "stopped"
    return 0
  fi
  # A node paused by a test (SIGSTOP) would never see SIGTERM.
  kill -CONT "$pid" 2>/dev/null || true
  # SIGTERM runs the shutdown hook (drains, flushes the commit log): a few seconds.
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
  # Report the port the node was started with, whatever TRIBUTARY_CASSANDRA_PORT says now.
  if [[ -n "$pid" && -n "$(running_port)" ]]; then
    PORT="$(running_port)"
    ADDR="$HOST:$PORT"
  fi
  if [[ -n "$pid" ]] && port_open "$PORT"; then
    echo "running $ADDR (pid $pid, Cassandra $CASSANDRA_VERSION)"
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
  rm -rf "$DATA" "$C/data.ports" "$C/cassandra.yaml"
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
