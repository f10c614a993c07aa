#!/usr/bin/env bash
# Caskade's Redis-protocol server against Debian's redis-server, side by side in one run, alternating:
# redis-benchmark -t set,get -d 100 -c 50 -r 1000000, unpipelined and with -P 16, then durable writes
# (Caskade sync vs Redis appendonly yes + appendfsync always). Results: bench/results/resp-<stamp>.txt.
#
#   bench/resp.sh            -n 1000000 (the issue's size)
#   BENCH_N=200000 bench/resp.sh   a shorter run
#   RESP_ROUNDS=3 RESP_OUT=<file.txt>    rounds of both systems, and where the lines go (bin/bench sets both)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
n=${BENCH_N:-1000000}
stamp=$(date -u +%Y%m%dT%H%M%SZ)
out=${RESP_OUT:-bench/results/resp-$stamp.txt}
rounds=${RESP_ROUNDS:-2}
work=$(mktemp -d "$root/caskade-bench/target/resp-XXXXXX" 2>/dev/null || mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
for b in redis-server redis-benchmark; do command -v $b >/dev/null || { echo "bench/resp.sh: $b is missing (apt-get install redis-server redis-tools)" >&2; exit 1; }; done
bin/caskade --version >/dev/null # builds the CLI if needed, before anything is timed

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 100); do redis-cli -p "$1" PING >/dev/null 2>&1 && return 0; sleep 0.2; done; echo "no server on $1" >&2; exit 1; }

start_redis() { # $1 port, $2 durable(yes/no)
  local dir="$work/redis-$1"; mkdir -p "$dir"
  if [ "$2" = yes ]; then set -- "$1" --appendonly yes --appendfsync always; else set -- "$1" --appendonly no; fi
  redis-server --port "$1" --bind 127.0.0.1 --save "" --dir "$dir" --daemonize no "${@:2}" >"$dir.log" 2>&1 &
  echo $!
}
start_caskade() { # $1 port, $2 durability
  local dir="$work/caskade-$1"
  bin/caskade serve --data "$dir" --resp-port "$1" --http-port 0 --durability "$2" >"$dir.log" 2>&1 &
  echo $!
}
run() { # $1 label, $2 port, rest: redis-benchmark args
  local label=$1 port=$2; shift 2
  redis-benchmark -p "$port" -d 100 -c 50 -r 1000000 -n "$n" -q "$@" 2>/dev/null | tr '\r' '\n' \
    | grep -a "requests per second" | sed "s/^/$label /" | tee -a "$out"
}

{ echo "# redis-benchmark, -n $n -d 100 -c 50 -r 1000000; $(nproc) cpus; $(date -u)"; redis-server --version; } >"$out"
for round in $(seq 1 "$rounds"); do
  for sys in redis caskade; do
    p=$(free_port)
    if [ $sys = redis ]; then pid=$(start_redis "$p" no); else pid=$(start_caskade "$p" none); fi
    wait_port "$p"
    run "$sys-nosync round$round" "$p" -t set,get
    run "$sys-nosync-P16 round$round" "$p" -t set,get -P 16
    kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
    p=$(free_port)
    if [ $sys = redis ]; then pid=$(start_redis "$p" yes); else pid=$(start_caskade "$p" sync); fi
    wait_port "$p"
    run "$sys-durable round$round" "$p" -t set
    kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
  done
done
echo "bench/resp.sh: results in $out"
