#!/usr/bin/env bash
# Watch fan-out (issue 3): 1,000 SSE subscribers on one prefix of `bin/caskade serve` (a separate process) while one
# client commits 1,000 times a second; send-to-delivery latency of every (subscriber, commit), and the server memory
# of an idle subscriber. Results: bench/results/fanout-<stamp>.{txt,json} (plus the server's JFR recording of the
# main run under caskade-bench/target/). See dev.caskade.bench.FanoutBench for what exactly is measured.
#
#   bench/fanout.sh                       the issue's run: 1,000 x 1,000/s for 30 s, idle memory at 1,000 and 5,000,
#                                         then shorter runs 1x1000, 100x1000, 1000x100, 1000x10, and all of them
#                                         again against BroadcastFloor, the cheapest server of the same bytes (~8 min)
#   FANOUT_OPTS="-Dfanout.durability=sync -Dfanout.parts=latency -Dfanout.extra=" bench/fanout.sh
#                                         any FanoutBench setting (fanout.subscribers, .rate, .seconds, .idle, ...)
#   BENCH_NO_BUILD=1 bench/fanout.sh      reuse caskade-bench/target/benchmarks.jar
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. bin/jdk.sh
caskade_find_jdk
stamp=$(date -u +%Y%m%dT%H%M%SZ)
jar=caskade-bench/target/benchmarks.jar
if [ -z "${BENCH_NO_BUILD:-}" ]; then
  echo "fanout: building $jar"
  mvn_cmd=(mvn -B -q -ntp -pl caskade-bench -am package -DskipTests -Dspotless.check.skip=true)
  if command -v flock >/dev/null; then flock /tmp/caskade-mvn.lock "${mvn_cmd[@]}"; else "${mvn_cmd[@]}"; fi
fi
bin/caskade --version >/dev/null # builds the CLI the server runs from, if needed, before anything is timed
mkdir -p bench/results caskade-bench/target
# shellcheck disable=SC2086 # FANOUT_OPTS is a list of options
exec "$JAVA_HOME/bin/java" -Xmx2g --enable-native-access=ALL-UNNAMED -Dfanout.root="$root" ${FANOUT_OPTS:-} \
  -cp "$jar" dev.caskade.bench.FanoutBench "bench/results/fanout-$stamp"
