#!/usr/bin/env bash
# Replication to S3 (issue 4): replication lag at 10,000 commits/s with sync-interval 1 s and 100 ms (S3 and, for
# comparison, a directory destination), S3 requests per hour and bytes stored per million commits, and the restore
# throughput of a 1 GiB store, all against S3Proxy started inside the benchmark's JVM on 127.0.0.1 (filesystem
# provider on a scratch directory). Results: bench/results/replication-<stamp>.{txt,json}; when the restore is under
# its target, a JFR recording of one more restore goes to caskade-bench/target/. See dev.caskade.bench.ReplicationBench.
#
#   bench/replication.sh                  the issue's run: 4 lag runs (S3 60 s, directory 30 s, each after 5 s of
#                                         warm-up), then build, ship and restore 1M x 1 KiB at parallelism 1, 2, 4
#                                         (about 7 min)
#   REPL_QUICK=1 bench/replication.sh     a smoke run of every part (about 1 min)
#   REPL_OPTS="-Drepl.parts=restore -Dhttp.maxConnections=16" bench/replication.sh
#                                         any ReplicationBench setting (repl.rate, repl.intervals, repl.seconds, ...)
#   BENCH_NO_BUILD=1 bench/replication.sh reuse caskade-bench/target/benchmarks.jar
#   BENCH_DATA=<dir>                      scratch (default caskade-bench/target/replication; a real disk, not tmpfs)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. bin/jdk.sh
caskade_find_jdk
stamp=$(date -u +%Y%m%dT%H%M%SZ)
jar=caskade-bench/target/benchmarks.jar
data=${BENCH_DATA:-$root/caskade-bench/target/replication}
mkdir -p "$(dirname "$data")" bench/results
if [ "$(df -PT "$(dirname "$data")" | awk 'NR==2 {print $2}')" = tmpfs ]; then
  echo "replication: $data is on tmpfs, where fsync is free; set BENCH_DATA to a directory on a real disk" >&2
  exit 1
fi
if [ -z "${BENCH_NO_BUILD:-}" ]; then
  echo "replication: building $jar"
  mvn_cmd=(mvn -B -q -ntp -o -pl caskade-bench -am package -DskipTests -Dspotless.check.skip=true)
  if command -v flock >/dev/null; then flock /tmp/caskade-mvn.lock "${mvn_cmd[@]}"; else "${mvn_cmd[@]}"; fi
fi
quick=()
if [ -n "${REPL_QUICK:-}" ]; then
  quick=(-Drepl.seconds=5 -Drepl.dirSeconds=3 -Drepl.warmup=1 -Drepl.restoreKeys=50000 -Drepl.logPuts=5000
    -Drepl.parallelism=1,4 -Drepl.profile=false)
  stamp="$stamp-quick"
fi
echo "replication: load before $(cut -d' ' -f1-3 /proc/loadavg) (other work on this machine skews every figure)"
# shellcheck disable=SC2086 # REPL_OPTS is a list of options
exec "$JAVA_HOME/bin/java" -Xms3g -Xmx3g --enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow \
  -Drepl.root="$root" -Drepl.data="$data" "${quick[@]}" ${REPL_OPTS:-} \
  -cp "$jar" dev.caskade.bench.ReplicationBench "bench/results/replication-$stamp"
