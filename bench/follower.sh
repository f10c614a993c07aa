#!/usr/bin/env bash
# Followers (issue 5): `bin/caskade serve` as the primary and `bin/caskade serve --follow http://127.0.0.1:PORT`
# followers, each a process of its own, driven over loopback from one benchmark JVM: forwarded HTTP PUT latency
# (paced 1,000/s) and throughput (1 and 16 clients) through a follower vs straight to the primary, redis-benchmark
# SET/GET against both, HTTP GET rate from both, and PUT on the primary -> SSE event at a watcher on each of 1 and
# 10 followers at 1,000 commits/s; primary durability sync, then none. Results:
# bench/results/follower-<stamp>.{txt,json}. See dev.caskade.bench.FollowerBench.
#
#   bench/follower.sh                     the full run (about 5 min)
#   FOLLOWER_QUICK=1 bench/follower.sh    a smoke run of every part, durability none only (under a minute)
#   FOLLOWER_OPTS="-Dfollower.parts=fanout -Dfollower.followers=10" bench/follower.sh
#                                         any FollowerBench setting (follower.rate, .seconds, .durability, ...)
#   BENCH_NO_BUILD=1 bench/follower.sh    reuse caskade-bench/target/benchmarks.jar and the built CLI
#   BENCH_DATA=<dir>                      scratch (default caskade-bench/target/follower; a real disk, not tmpfs)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. bin/jdk.sh
caskade_find_jdk
stamp=$(date -u +%Y%m%dT%H%M%SZ)
jar=caskade-bench/target/benchmarks.jar
data=${BENCH_DATA:-$root/caskade-bench/target/follower}
mkdir -p "$(dirname "$data")" bench/results
if [ "$(df -PT "$(dirname "$data")" | awk 'NR==2 {print $2}')" = tmpfs ]; then
  echo "follower: $data is on tmpfs, where fsync is free; set BENCH_DATA to a directory on a real disk" >&2
  exit 1
fi
if [ -z "${BENCH_NO_BUILD:-}" ]; then
  echo "follower: building $jar and the CLI"
  mvn_cmd=(mvn -B -q -ntp -o -pl caskade-bench,caskade-cli -am package -DskipTests -Dspotless.check.skip=true)
  if command -v flock >/dev/null; then flock /tmp/caskade-mvn.lock "${mvn_cmd[@]}"; else "${mvn_cmd[@]}"; fi
fi
bin/caskade --version >/dev/null # builds the CLI the servers run from, if still needed, before anything is timed
quick=()
if [ -n "${FOLLOWER_QUICK:-}" ]; then
  quick=(-Dfollower.durability=none -Dfollower.seconds=2 -Dfollower.warmup=1 -Dfollower.ryw=50
    -Dfollower.throughputSeconds=1 -Dfollower.respRequests=2000 -Dfollower.readKeys=2000 -Dfollower.readSeconds=1
    -Dfollower.followers=2 -Dfollower.fanoutSeconds=2 -Dfollower.jitSeconds=1)
  stamp="$stamp-quick"
fi
echo "follower: load before $(cut -d' ' -f1-3 /proc/loadavg) (other work on this machine skews every figure)"
# shellcheck disable=SC2086 # FOLLOWER_OPTS is a list of options
exec "$JAVA_HOME/bin/java" -Xmx1g --enable-native-access=ALL-UNNAMED -Dfollower.root="$root" \
  -Dfollower.data="$data" "${quick[@]}" ${FOLLOWER_OPTS:-} \
  -cp "$jar" dev.caskade.bench.FollowerBench "bench/results/follower-$stamp"
