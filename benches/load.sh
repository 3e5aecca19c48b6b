#!/usr/bin/env bash
# Load benchmark: the release proxy against the release fake-nexmo and a
# private redis-server, driven by wrk. Every figure is reported next to a
# baseline measured in the same run (fake-nexmo answering a fixed JSON error,
# i.e. a bare actix-web handler), because this class of machine is small and
# noisy: read the ratios, not the absolute numbers.
#
# Usage: benches/load.sh [duration-seconds (default 10)] [connections (default 32)]
#   BEFORE=path/to/an/older/nexmo-proxy benches/load.sh ... also floods that
#   binary's /refused/, interleaved with this one's (before, now, before).
#   Build the older one with its own CARGO_TARGET_DIR (or copy it out of
#   target/ before building this one): a build of another checkout into this
#   target/ replaces target/release/nexmo-proxy, and cargo, finding this
#   checkout up to date, does not put it back.
#   RATE=2000 (default) is the fixed rate of the latency table, measured by
#   oha at a constant rate with latency correction (wrk2-style: a late
#   request's wait counts from when it was due).
# Needs: wrk, redis-server (apt-get install wrk redis-server), oha
# (cargo install oha --locked; installed here when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
DUR="${1:-10}"
CONNS="${2:-32}"
if ! command -v wrk >/dev/null || ! command -v redis-server >/dev/null; then
  echo "installing wrk and redis-server" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk redis-server >/dev/null
fi

command -v oha >/dev/null || { echo "installing oha (a few minutes)" >&2; cargo install oha --locked --quiet; }
python3 -c 'import phonenumbers' 2>/dev/null || python3 -m pip install --quiet phonenumbers
cargo build --release --bins -q
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() { # file pattern
  for _ in $(seq 1 200); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
  echo "timed out waiting for $2 in $1" >&2; cat "$1" >&2; exit 1
}

rport=$(free_port)
redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no >"$work/redis.log" 2>&1 &
pids+=($!)
redis_pid=$!
wait_for "$work/redis.log" "Ready to accept connections"

./target/release/fake-nexmo --port 0 >"$work/fake.log" 2>&1 &
pids+=($!)
fake_pid=$!
wait_for "$work/fake.log" "listening on"
fake=$(grep -o 'http://[0-9.:]*' "$work/fake.log" | head -1)

cat >"$work/proxy.toml" <<TOML
[server]
listen = "127.0.0.1:0"
admin_listen = ""
max_connections_per_ip = 10000
[nexmo]
api_key = "testkey1"
api_secret = "testsecret"
url = "$fake/sms/json"
max_rps = 1000000                  # measure the proxy, not the shaping towards Nexmo
[redis]
url = "redis://127.0.0.1:$rport/0"
[defaults]
limits = [{ per = "ip", max = 100000000, window = "1h" }]
[validation]
limits = [{ per = "ip", max = 100000000, window = "1h" }]
[[endpoint]]
path = "/message/"
sender = "Bench"
message = "Your download link: https://example.com/app"
[[endpoint]]
path = "/refused/"
sender = "Bench"
message = "Your download link: https://example.com/app"
limits = [{ per = "ip", max = 1, window = "1h" }]
TOML
RUST_LOG=warn,nexmo_proxy::server=info ./target/release/nexmo-proxy --config "$work/proxy.toml" >"$work/proxy.log" 2>&1 &
pids+=($!)
wait_for "$work/proxy.log" "listening on"
proxy=$(grep -o 'http://[0-9.:]*' "$work/proxy.log" | tail -1)
ppid=${pids[-1]}
# The same proxy with its access log on (a line per request to a file).
RUST_LOG=warn,nexmo_proxy::server=info,nexmo_proxy::access=info \
  ./target/release/nexmo-proxy --config "$work/proxy.toml" >"$work/proxy-access.log" 2>&1 &
pids+=($!)
wait_for "$work/proxy-access.log" "listening on"
proxy_access=$(grep -o 'http://[0-9.:]*' "$work/proxy-access.log" | tail -1)
# The same configuration with limits counted in the process.
sed '/^\[redis\]/,/^url = /d' "$work/proxy.toml" >"$work/proxy-mem.toml"
RUST_LOG=warn,nexmo_proxy::server=info ./target/release/nexmo-proxy --config "$work/proxy-mem.toml" >"$work/proxy-mem.log" 2>&1 &
pids+=($!)
wait_for "$work/proxy-mem.log" "listening on"
proxy_mem=$(grep -o 'http://[0-9.:]*' "$work/proxy-mem.log" | tail -1)
grep -q "limiter: in-process" "$work/proxy-mem.log" || { echo "proxy-mem is not in-process" >&2; exit 1; }
# A Redis Cluster of three masters (no replicas), for the same proxy with
# redis.cluster instead of redis.url.
cports=()
for _ in 1 2 3; do
  p=$(free_port); bus=$(free_port); mkdir -p "$work/c$p"
  redis-server --port "$p" --bind 127.0.0.1 --save "" --appendonly no --cluster-enabled yes \
    --cluster-config-file nodes.conf --dir "$work/c$p" --cluster-port "$bus" >"$work/c$p/log" 2>&1 &
  pids+=($!); cports+=("$p")
done
for p in "${cports[@]}"; do wait_for "$work/c$p/log" "Ready to accept connections"; done
redis-cli --cluster create $(printf '127.0.0.1:%s ' "${cports[@]}") --cluster-yes >"$work/cluster-create.log"
for _ in $(seq 1 200); do
  ok=1
  for p in "${cports[@]}"; do redis-cli -p "$p" cluster info | grep -q cluster_state:ok || ok=0; done
  [ "$ok" = 1 ] && break; sleep 0.05
done
seeds=$(printf '"redis://127.0.0.1:%s", ' "${cports[@]}")
sed "s|^url = \"redis://127.0.0.1:$rport/0\"|cluster = [${seeds%, }]|" "$work/proxy.toml" >"$work/proxy-cluster.toml"
grep -q '^cluster = ' "$work/proxy-cluster.toml" || { echo "no cluster in proxy-cluster.toml" >&2; exit 1; }
RUST_LOG=warn,nexmo_proxy::server=info ./target/release/nexmo-proxy --config "$work/proxy-cluster.toml" >"$work/proxy-cluster.log" 2>&1 &
pids+=($!)
wait_for "$work/proxy-cluster.log" "listening on"
proxy_cluster=$(grep -o 'http://[0-9.:]*' "$work/proxy-cluster.log" | tail -1)
# Numbers of every region, the last digits varied: no two requests alike.
benches/numbers.py 5000 >"$work/numbers.txt"
if [ -n "${BEFORE:-}" ]; then
  RUST_LOG=warn,nexmo_proxy::server=info "$BEFORE" --config "$work/proxy.toml" >"$work/proxy-before.log" 2>&1 &
  pids+=($!)
  wait_for "$work/proxy-before.log" "listening on"
  proxy_before=$(grep -o 'http://[0-9.:]*' "$work/proxy-before.log" | tail -1)
fi

run() { # name url [wrk script]
  local out
  out=$(NUMBERS="$work/numbers.txt" wrk -t2 -c"$CONNS" -d"${DUR}s" --latency ${3:+-s "$3"} "$2")
  local rps p50 p99
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  if grep -q "Non-2xx" <<<"$out"; then echo "warning: $1 had non-2xx answers" >&2; fi
  echo "$1|$rps|$p50|$p99"
}

results=()
results+=("$(run "baseline (fake-nexmo fixed JSON)" "$fake/sms/json")")
results+=("$(run "/validate_number/ (+49 mobile)" "$proxy/validate_number/?number=%2B4917612345678")")
results+=("$(run "/validate_number/ (5000 numbers of every region), in process" "$proxy_mem" benches/varied.lua)")
results+=("$(run "/validate_number/ (5000 numbers of every region), Redis" "$proxy" benches/varied.lua)")
results+=("$(run "/validate_number/ (5000 numbers of every region), Redis Cluster" "$proxy_cluster" benches/varied.lua)")
results+=("$(run "/message/ (Redis limit + fake Nexmo)" "$proxy/message/?receiver=%2B4917612345678")")
results+=("$(run "/message/ (Redis Cluster limit + fake Nexmo)" "$proxy_cluster/message/?receiver=%2B4917612345678")")
# A flood its per-IP limit refuses, without and with the access log,
# interleaved (off, on, off) so drift shows.
refused="/refused/?receiver=%2B4917612345678"
results+=("$(run "/refused/ (refused by its limit), access log off" "$proxy$refused")")
results+=("$(run "/refused/ (refused by its limit), access log on" "$proxy_access$refused")")
results+=("$(run "/refused/ (refused by its limit), access log off again" "$proxy$refused")")
if [ -n "${BEFORE:-}" ]; then
  results+=("$(run "/refused/, $BEFORE" "$proxy_before$refused")")
  results+=("$(run "/refused/, this build" "$proxy$refused")")
  results+=("$(run "/refused/, $BEFORE again" "$proxy_before$refused")")
fi
# Latency added at a fixed rate: every target at RATE requests/s, its
# percentiles beside the bare server's of the same run.
RATE="${RATE:-2000}"
sed "s|^|$proxy_mem/validate_number/?number=|; s|+|%2B|" "$work/numbers.txt" >"$work/urls-mem.txt"
sed "s|^|$proxy/validate_number/?number=|; s|+|%2B|" "$work/numbers.txt" >"$work/urls-redis.txt"
fixed() { # name url-or-file [--urls-from-file]
  oha --no-tui --output-format json -q "$RATE" -z "${DUR}s" -c "$CONNS" --latency-correction ${3:-} "$2" |
    python3 -c '
import json, sys
j = json.load(sys.stdin)
p = j["latencyPercentiles"]
ok = j["statusCodeDistribution"].get("200", 0)
total = sum(j["statusCodeDistribution"].values()) + sum(j["errorDistribution"].values())
ms = lambda k: p[k] * 1000
p50, p99, p999 = (ms(k) for k in ("p50", "p99", "p99.9"))
print("%s|%.0f|%.2f|%.2f|%.2f|%d" % (sys.argv[1], j["summary"]["requestsPerSec"], p50, p99, p999, total - ok))
' "$1"
}
fixed_results=()
fixed_results+=("$(fixed "baseline (fake-nexmo fixed JSON)" "$fake/sms/json")")
fixed_results+=("$(fixed "/validate_number/ (numbers of every region), in process" "$work/urls-mem.txt" --urls-from-file)")
fixed_results+=("$(fixed "/validate_number/ (numbers of every region), Redis" "$work/urls-redis.txt" --urls-from-file)")
fixed_results+=("$(fixed "/message/ (Redis limit + fake Nexmo)" "$proxy/message/?receiver=%2B4917612345678")")
fixed_results+=("$(fixed "/refused/ (refused by its limit)" "$proxy$refused")")
fixed_results+=("$(fixed "baseline again" "$fake/sms/json")")
# Where the CPU of a /message/ flood goes: each process's user+system time
# over one more run, per request.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
before=("$(ticks "$ppid")" "$(ticks "$fake_pid")" "$(ticks "$redis_pid")")
out=$(wrk -t2 -c"$CONNS" -d"${DUR}s" "$proxy/message/?receiver=%2B4917612345678")
after=("$(ticks "$ppid")" "$(ticks "$fake_pid")" "$(ticks "$redis_pid")")
requests=$(awk '/requests in/ {print $1}' <<<"$out")
hz=$(getconf CLK_TCK)
cpu_split=$(python3 - "$requests" "$hz" "$DUR" "$(nproc)" "${before[@]}" "${after[@]}" <<'PY'
import sys
n, hz, dur, cores = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
b, a = list(map(int, sys.argv[5:8])), list(map(int, sys.argv[8:11]))
names = ["proxy", "fake-nexmo (the Nexmo side)", "redis-server"]
used = [(a[i] - b[i]) / hz for i in range(3)]
rest = cores * dur - sum(used)
print(f"{n} requests in {dur:.0f} s ({n / dur:.0f}/s); CPU per request:")
for name, u in zip(names, used):
    print(f"- {name}: {u * 1e6 / n:.0f} us ({u / (cores * dur):.0%} of the machine)")
print(f"- the rest (wrk, the kernel's loopback, idle): {rest * 1e6 / n:.0f} us ({rest / (cores * dur):.0%})")
PY
)
rss_kb=$(awk '/VmHWM/ {print $2}' "/proc/$ppid/status")

base=$(cut -d'|' -f2 <<<"${results[0]}")
echo
echo "wrk -t2 -c$CONNS -d${DUR}s on $(nproc) cores, $(date -u +%Y-%m-%d)"
echo
echo "| target | requests/s | ratio to baseline | p50 | p99 |"
echo "|---|---|---|---|---|"
for r in "${results[@]}"; do
  IFS='|' read -r name rps p50 p99 <<<"$r"
  ratio=$(python3 -c "print(f'{float(\"$rps\")/float(\"$base\"):.2f}')")
  echo "| $name | $rps | $ratio | $p50 | $p99 |"
done
echo
echo "oha -q $RATE -z ${DUR}s -c $CONNS --latency-correction (a fixed rate; times in ms)"
echo
bp99=$(cut -d'|' -f4 <<<"${fixed_results[0]}")
echo "| target | requests/s | p50 | p99 | p99.9 | p99 added over the first baseline | not 200 |"
echo "|---|---|---|---|---|---|---|"
for r in "${fixed_results[@]}"; do
  IFS='|' read -r name rps p50 p99 p999 bad <<<"$r"
  added=$(python3 -c "print(f'{float(\"$p99\")-float(\"$bp99\"):+.2f}')")
  echo "| $name | $rps | $p50 | $p99 | $p999 | $added | $bad |"
done
echo
echo "/message/ (Redis): $cpu_split"
echo
echo "proxy peak RSS: $((rss_kb / 1024)) MiB"
echo "access lines written by the proxy with the access log on: $(grep -c 'nexmo_proxy::access' "$work/proxy-access.log")"
