#!/usr/bin/env bash
# Start-up and reload cost of the release proxy: the time from exec to the
# first answered request (median of 10 starts), and the time a reload of a
# 100-endpoint file takes to apply (save to the "applied" log line, median
# of 5) while wrk loads the proxy, with the failed requests counted.
#
# Usage: benches/startup.sh
# Needs: wrk, python3 (apt-get install wrk).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
cargo build --release --bins -q
work=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
config() { # version
  printf '[server]\nlisten = "127.0.0.1:%s"\nadmin_listen = ""\nmax_connections_per_ip = 10000\n' "$port"
  printf '[nexmo]\ndry_run = true\n[defaults]\nlimits = []\n'
  for i in $(seq 0 99); do
    printf '[[endpoint]]\npath = "/e%s/"\nsender = "V%s"\nmessage = "endpoint %s, version %s"\n' "$i" "$1" "$i" "$1"
  done
}
now_ms() { date +%s%3N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

config 1 >"$work/proxy.toml"
url="http://127.0.0.1:$port/e50/?receiver=%2B4917612345678"
for _ in $(seq 1 10); do
  t0=$(now_ms)
  RUST_LOG=warn ./target/release/nexmo-proxy --config "$work/proxy.toml" >"$work/start.log" 2>&1 &
  pid=$!
  until curl -sf -o /dev/null "$url"; do sleep 0.002; done
  echo $(( $(now_ms) - t0 ))
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
done >"$work/starts"

RUST_LOG=warn,nexmo_proxy::reload=info ./target/release/nexmo-proxy --config "$work/proxy.toml" >"$work/proxy.log" 2>&1 &
pid=$!
until curl -sf -o /dev/null "$url"; do sleep 0.01; done
wrk -t2 -c32 -d12s "$url" >"$work/wrk.out" &
wrk_pid=$!
for v in 2 3 4 5 6; do
  sleep 2
  config "$v" >"$work/next.toml"
  t0=$(now_ms)
  mv "$work/next.toml" "$work/proxy.toml"
  until grep -q "applied configuration generation $v" "$work/proxy.log"; do sleep 0.002; done
  echo $(( $(now_ms) - t0 ))
done >"$work/reloads"
wait "$wrk_pid"

echo "machine: $(nproc) cores, $(date -u +%Y-%m-%d)"
echo "exec to first answered request, median of 10: $(median <"$work/starts") ms (all: $(tr '\n' ' ' <"$work/starts"))"
echo "100-endpoint reload, save to applied, median of 5 under wrk -t2 -c32: $(median <"$work/reloads") ms (all: $(tr '\n' ' ' <"$work/reloads"))"
grep -E "Requests/sec|Non-2xx|Socket errors" "$work/wrk.out" || true
echo "requests not answered 2xx during the reloads: $(awk '/Non-2xx/ {print $5}' "$work/wrk.out" | grep . || echo 0)"
