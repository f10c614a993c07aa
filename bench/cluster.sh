#!/usr/bin/env bash
# Cluster mode (issue 6): three nodes on loopback kept in one order by a real redis-server's stream, against the
# original design's shape (SET + PUBLISH per write, every node applying what it hears) in the same run, alternating:
# write throughput per node and in total, and write-on-A to visible-on-B latency at a paced rate.
# Results: bench/results/cluster-<stamp>.{txt,json}. See dev.caskade.bench.ClusterBench.
#
#   bench/cluster.sh                     3 repetitions of both systems (about 2.5 min)
#   CLUSTER_QUICK=1 bench/cluster.sh     one short repetition (about 20 s)
#   CLUSTER_OPTS="-Dcluster.writers=8" bench/cluster.sh
#   BENCH_NO_BUILD=1 bench/cluster.sh    reuse caskade-bench/target/benchmarks.jar
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. bin/jdk.sh
caskade_find_jdk
command -v redis-server >/dev/null || { echo "cluster: redis-server is needed (apt-get install redis-server)" >&2; exit 1; }
stamp=$(date -u +%Y%m%dT%H%M%SZ)
jar=caskade-bench/target/benchmarks.jar
mkdir -p bench/results
if [ -z "${BENCH_NO_BUILD:-}" ]; then
  echo "cluster: building $jar"
  mvn_cmd=(mvn -B -q -ntp -o -pl caskade-bench -am package -DskipTests -Dspotless.check.skip=true)
  if command -v flock >/dev/null; then flock /tmp/caskade-mvn.lock "${mvn_cmd[@]}"; else "${mvn_cmd[@]}"; fi
fi
quick=()
if [ -n "${CLUSTER_QUICK:-}" ]; then
  quick=(-Dcluster.reps=1 -Dcluster.seconds=3)
  stamp="$stamp-quick"
fi
echo "cluster: load before $(cut -d' ' -f1-3 /proc/loadavg) (other work on this machine skews every figure)"
# shellcheck disable=SC2086 # CLUSTER_OPTS is a list of options
exec "$JAVA_HOME/bin/java" -Xms1g -Xmx1g --enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow \
  -Dcluster.data="$root/caskade-bench/target/cluster" "${quick[@]}" ${CLUSTER_OPTS:-} \
  -cp "$jar" dev.caskade.bench.ClusterBench "bench/results/cluster-$stamp"
