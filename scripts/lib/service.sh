# shellcheck shell=bash
# Shared parts of the local service scripts (kafka.sh, cassandra.sh, opensearch.sh, postgres.sh):
# locking, pid handling by command line, port probe and wait loop, log tail on failure, stop with
# SIGTERM then SIGKILL, status output, the Maven install of jars with a pom hash marker, and the
# command dispatch. Sourced, never run.
#
# A script sets these before calling anything here:
#   ROOT                 the repository root
#   SVC_NAME             log prefix and script name, e.g. kafka.sh
#   SVC_HOME             instance directory (lock, pid)
#   SVC_LOCK_TIMEOUT     seconds to wait for the lock
#   HOST, PORT           where the service listens
# A JVM service started with svc_start (all but postgres.sh) also sets:
#   SVC_NOUN             "broker" or "node", for messages
#   SVC_PRODUCT          "Kafka", "Cassandra", ..., for messages
#   SVC_VERSION          the pinned version (see svc_pom_property)
#   SVC_CMDLINE          grep pattern that the JVM's command line matches
#   SVC_LOG              the service's stdout/stderr log
#   SVC_PORTS            array: every port the service binds (must all be free before a start)
#   SVC_PORT_ENV         env var that picks another port, for the "port in use" message
#   SVC_JAVA_HINT        why java is needed, for the "java not found" message
#   SVC_START_TIMEOUT    seconds to wait for svc_ready
#   SVC_STOP_TIMEOUT     seconds between SIGTERM and SIGKILL
#   SVC_NOT_READY        "not answering" or "not healthy"
#   SVC_NOT_READY_WHERE  what the start timeout says, e.g. "did not answer CQL on"
# and defines these functions:
#   svc_address PORT     the address printed by start/status (host:port or a URL)
#   running_port         the port of the live process, from its rendered config (empty when unknown)
#   svc_ready            0 when the service answers on $PORT (called while it is alive)
#   svc_answers PORT     0 when the running service answers (status)
#   svc_prepare          everything between install and launch (config, data dir)
#   svc_java_args        prints nothing; sets the array SVC_JAVA_ARGS (java arguments after `java`)
#   svc_after_start      run once after a fresh start (may be a no-op)
#   cmd_install          fetch what the service needs

log() { echo "$SVC_NAME: $*" >&2; }
die() {
  log "$*"
  exit 1
}

# Serialise start/stop/reset so two concurrent callers (e.g. parallel test setups) don't race.
# fd 9 must never leak into the service, or it would hold the lock forever (see svc_launch).
lock() {
  mkdir -p "$SVC_HOME"
  exec 9>"$SVC_HOME/lock"
  flock -w "$SVC_LOCK_TIMEOUT" 9 || die "timed out waiting for $SVC_HOME/lock"
}

port_open() { timeout 2 bash -c "exec 3<>/dev/tcp/$HOST/$1" 2>/dev/null; }

# The project's node (24) if installed, else the one on PATH, else nothing.
node_bin() {
  if [[ -x "$ROOT/node_modules/.bin/node" ]]; then echo "$ROOT/node_modules/.bin/node"; else command -v node || true; fi
}

# svc_node MODULE SECONDS SCRIPT: run a node script from the repo root (output dropped). Returns its
# status, or 2 when node or the npm MODULE is not available (so a caller can fall back).
svc_node() {
  local node
  node="$(node_bin)"
  [[ -n "$node" && -d "$ROOT/node_modules/$1" ]] || return 2
  (cd "$ROOT" && timeout "$2" "$node" -e "$3" >/dev/null 2>&1)
}

# svc_probe_or_log PROBE PATTERN: 0 when PROBE succeeds; when PROBE cannot run (status 2, no
# node/driver here), trust the service's own log line PATTERN instead.
svc_probe_or_log() {
  local rc=0
  "$1" || rc=$?
  if ((rc == 0)); then return 0; fi
  ((rc == 2)) && grep -q "$2" "$SVC_LOG" 2>/dev/null
}

# pid of our service if it is alive, else empty. Checks the command line so a recycled pid of some
# unrelated process is never treated (or killed) as the service.
svc_pid() {
  local pid pidfile="$SVC_HOME/pid"
  [[ -f "$pidfile" ]] || return 0
  pid="$(cat "$pidfile" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 0
  if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "$SVC_CMDLINE"; then
    echo "$pid"
  fi
}

# svc_ports_free ENV PORT...: die when another process (not ours) listens on one of the PORTs.
svc_ports_free() {
  local env="$1" port
  shift
  for port in "$@"; do
    if port_open "$port"; then
      local ports="$*"
      die "port ${ports// / or } is already used by another process (not started by this script); set $env"
    fi
  done
}

# svc_tail_log [N]: the last N (40) lines of the service log on stderr, for a failed start.
svc_tail_log() { tail -n "${1:-40}" "$SVC_LOG" >&2 || true; }

# svc_pom_property POM NAME: the <NAME> property of a pom (the pinned versions live there only).
svc_pom_property() { sed -n "s:.*<$2>\(.*\)</$2>.*:\1:p" "$1"; }

# svc_jars_current POM LIB: 0 when LIB was filled from this exact POM (hash marker).
svc_jars_current() {
  [[ -f "$2/.pom.sha" && "$(cat "$2/.pom.sha")" == "$(sha1sum <"$1")" ]]
}

# svc_maven_install POM LIB: copy the runtime dependencies of POM into LIB and mark LIB with the
# pom's hash. Goes through LIB.tmp so an interrupted download never looks installed.
svc_maven_install() {
  local pom="$1" lib="$2"
  command -v mvn >/dev/null || die "mvn not found (needs Maven and Java 17+)"
  log "installing $SVC_PRODUCT $SVC_VERSION jars from Maven Central into $lib ..."
  mkdir -p "$(dirname "$lib")"
  rm -rf "$lib.tmp"
  # (sed strips the colour codes Maven 3.8 prints even with -B -q.)
  mvn -B -q -f "$pom" \
    org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
    -DoutputDirectory="$lib.tmp" -DincludeScope=runtime 2>&1 | sed 's/\x1b\[[0-9;]*m//g' >&2 ||
    die "maven could not fetch the $SVC_PRODUCT jars"
  sha1sum <"$pom" >"$lib.tmp/.pom.sha"
  rm -rf "$lib"
  mv "$lib.tmp" "$lib"
  log "installed $(find "$lib" -name '*.jar' | wc -l) jars"
}

# svc_install_jars POM LIB MAIN_JAR VERSION_PROPERTY: the whole `install` of a jars-only service.
# Skipped when LIB was filled from this exact pom and MAIN_JAR is there.
svc_install_jars() {
  [[ -n "$SVC_VERSION" ]] || die "no <$4> in $1"
  if svc_jars_current "$1" "$2" && [[ -f "$2/$3" ]]; then return 0; fi
  # Never swap jars under a running JVM (only reachable via a direct `install` after a bump).
  [[ -z "$(svc_pid)" ]] || die "the $SVC_NOUN is running; stop it before installing $SVC_PRODUCT $SVC_VERSION"
  svc_maven_install "$1" "$2"
}

# svc_data_dir_for DATA STAMP_FILE STAMP: the service remembers its own addresses in its data dir,
# so a DATA made for another STAMP (its ports) is wiped; a fresh (test) data dir is created. The
# caller writes STAMP to STAMP_FILE once the dir is ready.
svc_data_dir_for() {
  if [[ -d "$1" && "$(cat "$2" 2>/dev/null || true)" != "$3" ]]; then
    log "data dir was made for other ports; wiping it"
    rm -rf "$1"
  fi
  mkdir -p "$1"
}

# Start the JVM detached. setsid + nohup: own session, so the service survives the calling shell /
# CI step and is not hit by its Ctrl-C or process-group kill. The inner shell writes its own pid and
# then execs java, so the pid file holds the JVM's pid. 9>&- drops the lock fd.
svc_launch() {
  local pidfile="$SVC_HOME/pid"
  # Keep the previous run's log for post-mortems.
  if [[ -f "$SVC_LOG" ]]; then mv -f "$SVC_LOG" "$SVC_LOG.1"; fi
  svc_java_args
  # shellcheck disable=SC2016 # $$ and $@ are for the inner shell
  setsid nohup bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$pidfile" java "${SVC_JAVA_ARGS[@]}" \
    </dev/null >"$SVC_LOG" 2>&1 9>&- &
  # Wait for the pid file written by the child.
  for _ in $(seq 50); do
    [[ -s "$pidfile" ]] && break
    sleep 0.1
  done
}

# Wait until the service answers (svc_ready) while its process stays alive; tail the log on failure.
svc_wait_ready() {
  local t0=$SECONDS
  while ((SECONDS - t0 < SVC_START_TIMEOUT)); do
    if [[ -z "$(svc_pid)" ]]; then
      log "$SVC_NOUN process exited during startup; last log lines:"
      svc_tail_log
      return 1
    fi
    if svc_ready; then return 0; fi
    sleep 0.5
  done
  log "$SVC_NOUN $SVC_NOT_READY_WHERE $(svc_address "$PORT") within ${SVC_START_TIMEOUT}s; last log lines:"
  svc_tail_log
  return 1
}

# start for a JVM service: idempotent, prints the address on stdout.
svc_start() {
  lock
  local pid t0=$SECONDS
  pid="$(svc_pid)"
  if [[ -n "$pid" && "$(running_port)" != "$PORT" ]]; then
    die "a $SVC_NOUN started by this script already runs on $HOST:$(running_port) (pid $pid); stop it first to use port $PORT"
  fi
  if [[ -n "$pid" ]]; then
    # Already ours and running (maybe still starting, or paused by a test): make sure it answers.
    kill -CONT "$pid" 2>/dev/null || true
    svc_wait_ready || die "$SVC_NOUN (pid $pid) is running but $SVC_NOT_READY; try: bash scripts/$SVC_NAME reset"
    svc_address "$PORT"
    return 0
  fi
  rm -f "$SVC_HOME/pid"
  svc_ports_free "$SVC_PORT_ENV" "${SVC_PORTS[@]}"
  command -v java >/dev/null || die "java not found ($SVC_JAVA_HINT)"
  cmd_install
  mkdir -p "$(dirname "$SVC_LOG")"
  svc_prepare
  svc_launch
  if ! svc_wait_ready; then
    cmd_stop_locked >/dev/null || true
    die "start failed (full log: $SVC_LOG)"
  fi
  svc_after_start
  log "$SVC_PRODUCT $SVC_VERSION ready on $(svc_address "$PORT") after $((SECONDS - t0))s (pid $(cat "$SVC_HOME/pid"), log $SVC_LOG)"
  svc_address "$PORT"
}

# stop (lock held): SIGTERM runs the service's shutdown hook (flushes its logs); SIGKILL after
# SVC_STOP_TIMEOUT seconds.
cmd_stop_locked() {
  local pid
  pid="$(svc_pid)"
  if [[ -z "$pid" ]]; then
    rm -f "$SVC_HOME/pid"
    echo "stopped"
    return 0
  fi
  # A process paused by a test (SIGSTOP) would never see SIGTERM.
  kill -CONT "$pid" 2>/dev/null || true
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq $((SVC_STOP_TIMEOUT * 5))); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "$SVC_NOUN (pid $pid) ignored SIGTERM for ${SVC_STOP_TIMEOUT}s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  fi
  rm -f "$SVC_HOME/pid"
  echo "stopped"
}

cmd_stop() {
  lock
  cmd_stop_locked
}

# status of a JVM service: "running <addr> ..." (exit 0), "starting ..." or "stopped" (exit 3).
# Reports the port the service was started with, whatever the port env var says now.
svc_status() {
  local pid port="$PORT"
  pid="$(svc_pid)"
  if [[ -n "$pid" && -n "$(running_port)" ]]; then port="$(running_port)"; fi
  if [[ -n "$pid" ]] && svc_answers "$port"; then
    echo "running $(svc_address "$port") (pid $pid, $SVC_PRODUCT $SVC_VERSION)"
    return 0
  elif [[ -n "$pid" ]]; then
    echo "starting $(svc_address "$port") (pid $pid, $SVC_NOT_READY yet)"
    return 3
  fi
  echo "stopped"
  return 3
}

# svc_reset PATH...: stop, then delete the data.
svc_reset() {
  lock
  cmd_stop_locked >/dev/null
  rm -rf "$@"
  echo "reset (data deleted)"
}

# svc_main "CMD..." ARG: run cmd_ARG when ARG is one of the commands, else print the usage (exit 2).
svc_main() {
  local cmds="$1" cmd="${2:-}"
  if [[ -n "$cmd" && " $cmds " == *" $cmd "* ]]; then
    "cmd_$cmd"
    return
  fi
  echo "usage: $0 {${cmds// /|}}" >&2
  exit 2
}
