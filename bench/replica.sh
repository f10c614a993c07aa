#!/usr/bin/env bash
# Local replicas (issue 5): a replica's apply rate (catch-up of 1M changes of history over SSE, bootstrap from a
# snapshot, live behind txn writers) and put-on-primary to applied-on-replica latency at 1,000 commits/s with 1 and
# with 10 replicas, against a real HttpServer started inside the benchmark's JVM on 127.0.0.1, the replicas being
# LocalReplicas over CaskadeClient. Results: bench/results/replica-<stamp>.{txt,json}; when a figure misses its
# target, a JFR recording of one more run goes to caskade-bench/target/. See dev.caskade.bench.ReplicaBench.
#
#   bench/replica.sh                      the issue's run (about 2 min)
#   REPLICA_QUICK=1 bench/replica.sh      a smoke run of every part (about 30 s)
#   REPLICA_OPTS="-Dreplica.parts=latency -Dreplica.replicas=10" bench/replica.sh
#                                         any ReplicaBench setting (replica.rate, replica.seconds, ...)
#   BENCH_NO_BUILD=1 bench/replica.sh     reuse caskade-bench/target/benchmarks.jar
#   BENCH_DATA=<dir>                      scratch (default caskade-bench/target/replica; a real disk, not tmpfs)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. bin/jdk.sh
caskade_find_jdk
stamp=$(date -u +%Y%m%dT%H%M%SZ)
jar=caskade-bench/target/benchmarks.jar
data=${BENCH_DATA:-$root/caskade-bench/target/replica}
mkdir -p "$(dirname "$data")" bench/results
if [ "$(df -PT "$(dirname "$data")" | awk 'NR==2 {print $2}')" = tmpfs ]; then
  echo "replica: $data is on tmpfs, where fsync is free; set BENCH_DATA to a directory on a real disk" >&2
  exit 1
fi
if [ -z "${BENCH_NO_BUILD:-}" ]; then
  echo "replica: building $jar"
  mvn_cmd=(mvn -B -q -ntp -o -pl caskade-bench -am package -DskipTests -Dspotless.check.skip=true)
  if command -v flock >/dev/null; then flock /tmp/caskade-mvn.lock "${mvn_cmd[@]}"; else "${mvn_cmd[@]}"; fi
fi
quick=()
if [ -n "${REPLICA_QUICK:-}" ]; then
  quick=(-Dreplica.changes=100000 -Dreplica.liveSeconds=3 -Dreplica.seconds=4 -Dreplica.warmup=1
    -Dreplica.profile=false)
  stamp="$stamp-quick"
fi
echo "replica: load before $(cut -d' ' -f1-3 /proc/loadavg) (other work on this machine skews every figure)"
# shellcheck disable=SC2086 # REPLICA_OPTS is a list of options
exec "$JAVA_HOME/bin/java" -Xms3g -Xmx3g --enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow \
  -Dreplica.root="$root" -Dreplica.data="$data" "${quick[@]}" ${REPLICA_OPTS:-} \
  -cp "$jar" dev.caskade.bench.ReplicaBench "bench/results/replica-$stamp"
