#!/usr/bin/env bash
# The local stack without Docker: Apache Kafka (KRaft, single node) and Apicurio Registry
# (Confluent-compatible API), fetched from Maven Central, run on 127.0.0.1.
#
#   infra/stack.sh fetch | start | stop | status
#
# Everything lives under .stack/ (ignored by git). The stack is ephemeral: every start from
# stopped formats a fresh Kafka log directory and Apicurio keeps its schemas in memory.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STACK="$ROOT/.stack"
# A second stack beside the first (other ports) gets its own run and log folders by name.
INSTANCE="${STO_STACK_NAME:+-$STO_STACK_NAME}"
RUN="$STACK/run$INSTANCE"
LOGS="$STACK/logs$INSTANCE"

KAFKA_VERSION="3.9.1"
APICURIO_VERSION="${STO_STACK_APICURIO_VERSION:-3.3.3}"
DEP_PLUGIN="org.apache.maven.plugins:maven-dependency-plugin:3.8.1"

KAFKA_PORT="${STO_STACK_KAFKA_PORT:-9092}"
CONTROLLER_PORT="${STO_STACK_CONTROLLER_PORT:-9093}"
REGISTRY_PORT="${STO_STACK_REGISTRY_PORT:-8081}"
# Apicurio's Quarkus management interface (health, metrics) listens on a port of its own.
REGISTRY_MANAGEMENT_PORT="${STO_STACK_REGISTRY_MANAGEMENT_PORT:-9000}"
START_TIMEOUT_S="${STO_STACK_START_TIMEOUT_S:-180}"
KAFKA_HEAP="${STO_STACK_KAFKA_HEAP:-768m}"
REGISTRY_HEAP="${STO_STACK_REGISTRY_HEAP:-384m}"
# INFO writes Apicurio's access log to the registry log: method, path, status and response time
# (ms) of every request, to see whether a client's timeout was the registry's slowness.
REGISTRY_LOG_LEVEL="${STO_STACK_REGISTRY_LOG_LEVEL:-WARN}"
# Extra JVM options for the registry, e.g. "-Xlog:gc:file=gc.log" (split on spaces).
read -r -a REGISTRY_JAVA_OPTS <<<"${STO_STACK_REGISTRY_JAVA_OPTS:-}"

REGISTRY_URL="http://127.0.0.1:${REGISTRY_PORT}/apis/ccompat/v7"

say() { printf 'stack: %s\n' "$*" >&2; }
die() { printf 'stack: error: %s\n' "$*" >&2; exit 1; }

need() {
  command -v "$1" >/dev/null 2>&1 || die "$1 is not installed (needed: $2)"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

pid_of() {
  local file="$RUN/$1.pid"
  [[ -f "$file" ]] || return 1
  local pid
  pid="$(cat "$file")"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && { echo "$pid"; return 0; }
  return 1
}

kafka_healthy() { pid_of kafka >/dev/null && port_open "$KAFKA_PORT" && grep -q "Kafka Server started" "$LOGS/kafka.log" 2>/dev/null; }
registry_healthy() {
  pid_of registry >/dev/null && [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "$REGISTRY_URL/subjects")" == "200" ]]
}

fetch() {
  local marker="$STACK/fetched-kafka-${KAFKA_VERSION}-apicurio-${APICURIO_VERSION}"
  if [[ -f "$marker" ]]; then return 0; fi
  need java "to run Kafka and Apicurio (Java 17)"
  need mvn "to fetch Kafka and Apicurio from Maven Central"
  need curl "to probe the registry"
  mkdir -p "$STACK"
  say "fetching Apache Kafka ${KAFKA_VERSION} from Maven Central"
  # Maven's output goes to stderr: stdout carries only the settings that `start` prints, which
  # infra/with-stack.sh reads (even -q -B writes colour codes there, which hid STO_KAFKA_BROKERS
  # on a first start; unnoticed while the port was the default one).
  rm -rf "$STACK/kafka/lib"
  mvn -q -B -f "$ROOT/infra/kafka/pom.xml" "$DEP_PLUGIN:copy-dependencies" \
    -DoutputDirectory="$STACK/kafka/lib" -DincludeScope=runtime >&2 \
    || die "Maven could not fetch Kafka ${KAFKA_VERSION} (is Maven Central reachable?)"
  say "fetching Apicurio Registry ${APICURIO_VERSION} from Maven Central"
  rm -rf "$STACK/apicurio" "$STACK/apicurio-dl"
  mvn -q -B "$DEP_PLUGIN:copy" -Dartifact="io.apicurio:apicurio-registry-app:${APICURIO_VERSION}:tar.gz:all" \
    -DoutputDirectory="$STACK/apicurio-dl" >&2 \
    || die "Maven could not fetch Apicurio Registry ${APICURIO_VERSION} (is Maven Central reachable?)"
  mkdir -p "$STACK/apicurio"
  tar xzf "$STACK"/apicurio-dl/*.tar.gz -C "$STACK/apicurio"
  rm -rf "$STACK/apicurio-dl"
  [[ -n "$(find "$STACK/apicurio" -name quarkus-run.jar -print -quit)" ]] || die "no quarkus-run.jar in the Apicurio archive"
  rm -f "$STACK"/fetched-*
  touch "$marker"
}

write_kafka_config() {
  cat >"$RUN/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:${CONTROLLER_PORT}
listeners=PLAINTEXT://127.0.0.1:${KAFKA_PORT},CONTROLLER://127.0.0.1:${CONTROLLER_PORT}
advertised.listeners=PLAINTEXT://127.0.0.1:${KAFKA_PORT}
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=${RUN}/kafka-data
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
log.cleaner.min.compaction.lag.ms=0
EOF
  cat >"$RUN/log4j.properties" <<EOF
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File=${LOGS}/kafka.log
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.org.apache.kafka.storage.internals.log=WARN
log4j.logger.kafka.log.LogCleaner=WARN
EOF
}

# Refuses to start when a port is taken by a process that is not ours.
check_port_free() {
  local port="$1" variable="$2"
  if port_open "$port"; then
    die "port ${port} on 127.0.0.1 is taken by another process; stop it or set ${variable} to a free port"
  fi
}

start_kafka() {
  check_port_free "$KAFKA_PORT" STO_STACK_KAFKA_PORT
  check_port_free "$CONTROLLER_PORT" STO_STACK_CONTROLLER_PORT
  rm -rf "$RUN/kafka-data"
  : >"$LOGS/kafka.log"
  write_kafka_config
  local cp="$STACK/kafka/lib/*"
  java "-Dlog4j.configuration=file:${RUN}/log4j.properties" -cp "$cp" kafka.tools.StorageTool format -t "$(java "-Dlog4j.configuration=file:${RUN}/log4j.properties" -cp "$cp" kafka.tools.StorageTool random-uuid)" \
    -c "$RUN/server.properties" >"$LOGS/kafka-format.log" 2>&1 || { tail -20 "$LOGS/kafka-format.log" >&2; die "formatting the Kafka log directory failed"; }
  setsid java "-Xms256m" "-Xmx${KAFKA_HEAP}" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
    "-Dlog4j.configuration=file:${RUN}/log4j.properties" -cp "$cp" kafka.Kafka "$RUN/server.properties" \
    >"$LOGS/kafka.out" 2>&1 </dev/null &
  echo $! >"$RUN/kafka.pid"
}

java_major() { "$1" -version 2>&1 | head -1 | sed -E 's/.*version "([0-9]+).*/\1/'; }

# Apicurio Registry 3.3 is compiled for Java 21. Kafka runs on the default Java 17; the registry
# gets the newest Java >= 21 found (STO_STACK_REGISTRY_JAVA, JAVA_HOME, /usr/lib/jvm/*).
registry_java() {
  local candidate best="" best_major=0 major
  for candidate in "${STO_STACK_REGISTRY_JAVA:-}" "${JAVA_HOME:+$JAVA_HOME/bin/java}" "$(command -v java || true)" /usr/lib/jvm/*/bin/java; do
    [[ -n "$candidate" && -x "$candidate" ]] || continue
    major="$(java_major "$candidate")"
    [[ "$major" =~ ^[0-9]+$ ]] || continue
    if ((major >= 21 && major > best_major)); then best="$candidate"; best_major=$major; fi
  done
  [[ -n "$best" ]] || die "Apicurio Registry ${APICURIO_VERSION} needs Java 21 or newer and none was found; install one (e.g. a Temurin 21+ JDK) or set STO_STACK_REGISTRY_JAVA to its java binary"
  echo "$best"
}

# Registry stalls ("Timeout (5000ms)" in a clean-clone test run). What was observed with the
# access log at INFO on the 2-core development machine, busy with other test runs (load 8-10):
# - Apicurio 3.3.3 keeps its data in an in-memory H2 database (apicurio.storage.kind=sql,
#   sql.kind=h2, a pool of 20 to 100 connections) and serves the API on Quarkus' worker pool
#   (executor-thread-N in the log, up to 17 of them seen); neither was a bottleneck: 1,100
#   registrations from 8 concurrent clients, 320 more into the same 3 subjects, and a full
#   integration run (777 requests) answered in at most 1.6 s, with no pool, lock or
#   blocked-thread message in the log.
# - The slowest requests are the first ones after start (GET /subjects 0.7-1.4 s, the first
#   register 1.1-1.6 s; later ones 10-400 ms); Apicurio reports start-up in 17-28 s (the stack
#   was ready after 63 s with two CPU hogs beside it). During start the JVM made three full
#   collections of 0.37-0.49 s, all "Metadata GC Threshold" (Metaspace growing while Quarkus
#   loads classes); -XX:MetaspaceSize=160m removes them.
# - A request left without an answer for 5 s was not reproduced here. What made such a stall
#   fail a run at once was on our side: the registry client retried GETs only, so a register (a
#   POST) failed on its first timeout; it now retries every request (schema-codec.ts).
start_registry() {
  check_port_free "$REGISTRY_PORT" STO_STACK_REGISTRY_PORT
  check_port_free "$REGISTRY_MANAGEMENT_PORT" STO_STACK_REGISTRY_MANAGEMENT_PORT
  local jar java21
  jar="$(find "$STACK/apicurio" -name quarkus-run.jar -print -quit)"
  java21="$(registry_java)"
  # exec: the recorded pid is the JVM's own, and setsid makes it the leader of its process group,
  # so stop can signal the whole group; the redirections keep no caller's pipe open.
  (cd "$RUN" && exec setsid "$java21" "-Xmx${REGISTRY_HEAP}" -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:MetaspaceSize=160m "${REGISTRY_JAVA_OPTS[@]}" \
    -Dquarkus.http.host=127.0.0.1 "-Dquarkus.http.port=${REGISTRY_PORT}" \
    -Dquarkus.management.host=127.0.0.1 "-Dquarkus.management.port=${REGISTRY_MANAGEMENT_PORT}" \
    -Dquarkus.http.record-request-start-time=true "-Dquarkus.log.console.level=${REGISTRY_LOG_LEVEL}" -Dquarkus.banner.enabled=false \
    -jar "$jar") >"$LOGS/registry.log" 2>&1 </dev/null &
  echo $! >"$RUN/registry.pid"
}

wait_until() {
  local what="$1" check="$2" pidname="$3" log="$4" deadline=$((SECONDS + START_TIMEOUT_S))
  until "$check"; do
    if ! pid_of "$pidname" >/dev/null; then
      tail -30 "$log" >&2 || true
      die "$what exited during start-up (log: .stack/logs$INSTANCE/$(basename "$log"))"
    fi
    if ((SECONDS >= deadline)); then
      tail -30 "$log" >&2 || true
      die "$what not ready after ${START_TIMEOUT_S}s (log: .stack/logs$INSTANCE/$(basename "$log"))"
    fi
    sleep 0.5
  done
}

set_global_backward() {
  # @kafkajs/confluent-schema-registry throws when a subject's level differs from the one it
  # asks for; a global BACKWARD rule makes every subject answer BACKWARD.
  curl -sf -X PUT -H 'Content-Type: application/vnd.schemaregistry.v1+json' \
    --data '{"compatibility":"BACKWARD"}' "$REGISTRY_URL/config" >/dev/null \
    || die "could not set the registry's global compatibility to BACKWARD"
  curl -sf "$REGISTRY_URL/config" | grep -q BACKWARD || die "the registry did not keep the global BACKWARD rule"
  # Apicurio accepts syntactically broken schemas unless a VALIDITY rule is on.
  curl -sf -X POST -H 'Content-Type: application/json' --data '{"ruleType":"VALIDITY","config":"FULL"}' \
    "http://127.0.0.1:${REGISTRY_PORT}/apis/registry/v3/admin/rules" >/dev/null \
    || curl -sf "http://127.0.0.1:${REGISTRY_PORT}/apis/registry/v3/admin/rules" | grep -q VALIDITY \
    || die "could not enable the registry's global VALIDITY rule"
}

print_settings() {
  echo "STO_KAFKA_BROKERS=127.0.0.1:${KAFKA_PORT}"
  echo "STO_SCHEMA_REGISTRY_URL=${REGISTRY_URL}"
}

start() {
  if kafka_healthy && registry_healthy; then
    say "already running and healthy: reusing it"
    print_settings
    return 0
  fi
  fetch
  # Anything half-started or left by a killed run is ours to clean up.
  stop_quietly
  mkdir -p "$RUN" "$LOGS"
  local started=$SECONDS
  # A failed or interrupted start leaves nothing behind.
  trap 'stop_quietly' EXIT
  say "starting Kafka ${KAFKA_VERSION} on 127.0.0.1:${KAFKA_PORT} and Apicurio Registry ${APICURIO_VERSION} on 127.0.0.1:${REGISTRY_PORT}"
  start_kafka
  start_registry
  wait_until "Kafka" kafka_healthy kafka "$LOGS/kafka.log"
  say "Kafka ready after $((SECONDS - started))s"
  wait_until "Apicurio Registry" registry_healthy registry "$LOGS/registry.log"
  set_global_backward
  say "registry ready after $((SECONDS - started))s"
  trap - EXIT
  print_settings
}

kill_tree() {
  local name="$1" pid
  pid="$(cat "$RUN/$name.pid" 2>/dev/null || true)"
  [[ -n "$pid" ]] || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + 25))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.3; done
    if kill -0 "$pid" 2>/dev/null; then
      say "$name did not stop in 25s: killing it"
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$RUN/$name.pid"
}

stop_quietly() {
  kill_tree registry
  kill_tree kafka
}

stop() {
  stop_quietly
  say "stopped"
}

status() {
  local ok=0
  if kafka_healthy; then say "kafka: running (pid $(pid_of kafka)), 127.0.0.1:${KAFKA_PORT}"; else say "kafka: not running"; ok=3; fi
  if registry_healthy; then say "registry: running (pid $(pid_of registry)), ${REGISTRY_URL}"; else say "registry: not running"; ok=3; fi
  return $ok
}

case "${1:-}" in
  fetch) fetch ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: infra/stack.sh fetch|start|stop|status" >&2; exit 2 ;;
esac
