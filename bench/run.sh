#!/usr/bin/env bash
# The benchmark suite behind docs/benchmarks.md. Builds caskade-bench/target/benchmarks.jar, runs Caskade and its
# peers (RocksDB, LMDB, Chronicle Map, a raw append+fdatasync loop) in ONE run with the same workload (1M random
# 16-byte keys, 100-byte values), then the reopen / key-directory measurement, writes JSON under bench/results/
# and prints the tables (bench/report.py report). bin/bench is the suite over every part, and owns the generated
# section of docs/benchmarks.md; set BENCH_DOCS=1 to let this script rewrite it instead.
#
#   bench/run.sh          dev lengths:    fork 1, warmup 2 x 2 s, measurement 3 x 2 s   (about 8 min)
#   bench/run.sh full     quoted numbers: fork 1, warmup 3 x 2 s, measurement 5 x 2 s   (about 10 min)
# (the reopen part's share depends on the engine: each 10M-key open is timed in a fresh JVM, 6 times)
#
# Environment:
#   BENCH_ONLY="nosync durable group reopen"   run only these parts (default: all four)
#   BENCH_REOPEN_KEYS=10000000                 size of the big reopen store
#   BENCH_DATA=<dir>                           scratch data (default caskade-bench/target/bench-data; must be a
#                                              real disk, not tmpfs); every store is deleted after its trial
#   BENCH_NO_BUILD=1                           reuse the existing benchmarks.jar
#   BENCH_DOCS=1                               rewrite the generated section of docs/benchmarks.md
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. bin/jdk.sh
caskade_find_jdk
java="$JAVA_HOME/bin/java"

profile=${1:-dev}
case "$profile" in
  dev) lengths=(-f 1 -wi 2 -w 2s -i 3 -r 2s) ;;
  full) lengths=(-f 1 -wi 3 -w 2s -i 5 -r 2s) ;;
  *) echo "usage: bench/run.sh [dev|full]" >&2; exit 2 ;;
esac
parts=${BENCH_ONLY:-nosync durable group reopen}
reopen_keys=${BENCH_REOPEN_KEYS:-10000000}
data=${BENCH_DATA:-$root/caskade-bench/target/bench-data}
results=$root/bench/results
logs=$root/caskade-bench/target/bench-logs
stamp=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$data" "$results" "$logs"

fs=$(df -PT "$data" | awk 'NR==2 {print $2}')
if [ "$fs" = tmpfs ]; then
  echo "bench: $data is on tmpfs, where fsync is free; set BENCH_DATA to a directory on a real disk" >&2
  exit 1
fi

jar=caskade-bench/target/benchmarks.jar
if [ -z "${BENCH_NO_BUILD:-}" ]; then
  echo "bench: building $jar"
  mvn_cmd=(mvn -B -q -ntp -pl caskade-bench -am package -DskipTests -Dspotless.check.skip=true)
  export MAVEN_OPTS="${MAVEN_OPTS:-} --sun-misc-unsafe-memory-access=allow"
  # several people build in the same tree on the project machine: take the shared Maven lock when it exists
  if command -v flock >/dev/null; then flock /tmp/caskade-mvn.lock "${mvn_cmd[@]}"; else "${mvn_cmd[@]}"; fi
fi

# load average every 10 s while the suite runs: a busy neighbour shows up in the report
loadlog=$logs/load-$stamp.log
( while :; do echo "$(date -u +%H:%M:%S) $(cut -d' ' -f1-3 /proc/loadavg)"; sleep 10; done ) >"$loadlog" &
sampler=$!
trap 'kill "$sampler" 2>/dev/null || true' EXIT

python3 bench/report.py machine "$results/machine-$stamp.json" --data "$data" --profile "$profile" \
  --command "bench/run.sh $profile" --lengths "${lengths[*]}"

host=(--sun-misc-unsafe-memory-access=allow "-Dcaskade.bench.dir=$data")
jmh() { # name, benchmark regexp
  echo "bench: $1 ($(date -u +%H:%M:%S), load $(cut -d' ' -f1-3 /proc/loadavg))"
  "$java" "${host[@]}" -jar "$jar" "$2" "${lengths[@]}" -rf json -rff "$results/$1-$stamp.json" \
    >"$logs/$1-$stamp.log" 2>&1 || { echo "bench: $1 failed, see $logs/$1-$stamp.log" >&2; tail -30 "$logs/$1-$stamp.log" >&2; }
  awk '/^Benchmark /{p=1} p' "$logs/$1-$stamp.log" | grep -vE ':p(0\.00|0\.90|0\.95|0\.9999|1\.00) ' || true
}
for part in $parts; do
  case "$part" in
    nosync) jmh nosync 'dev.caskade.bench.NoSyncBench' ;;
    durable) jmh durable 'dev.caskade.bench.DurableBench' ;;
    group) jmh group 'dev.caskade.bench.GroupCommitBench' ;;
    reopen)
      echo "bench: reopen ($(date -u +%H:%M:%S), load $(cut -d' ' -f1-3 /proc/loadavg))"
      "$java" "${host[@]}" -cp "$jar" dev.caskade.bench.ReopenBench suite "$results/reopen-$stamp.json" "$reopen_keys" \
        2>&1 | tee "$logs/reopen-$stamp.log" ;;
    *) echo "bench: unknown part $part" >&2; exit 2 ;;
  esac
done

kill "$sampler" 2>/dev/null || true
python3 bench/report.py finish "$results/machine-$stamp.json" --load-log "$loadlog"
if [ -n "${BENCH_DOCS:-}" ]; then
  python3 bench/report.py report "$stamp" --docs docs/benchmarks.md
else
  python3 bench/report.py report "$stamp"
fi
echo "bench: results in bench/results/*-$stamp.json, logs in $logs"
