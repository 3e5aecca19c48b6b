#!/usr/bin/env bash
# The phone library's regex backends compared: the release proxy built as
# shipped (`lite`, regex-lite) and with `--features regex-backend` (the
# `regex` crate), each with in-process limits, flooded with /validate_number/
# for numbers of every region (benches/numbers.py, round robin by
# benches/varied.lua), interleaved lite, regex, lite, regex, lite, regex.
# Reports requests/s beside the bare server (fake-nexmo's fixed JSON) of the
# same run, each proxy's peak RSS after all rounds, and the time to answer
# the first request for each of 200 regions once (warm-up).
#
# Usage: benches/backend.sh [duration-seconds (default 10)] [connections (default 32)]
# Needs: wrk, python3 with phonenumbers (installed when missing). The regex
# build goes to target/regex-backend (a full release build the first time).
set -euo pipefail
cd "$(dirname "$0")/.."
DUR="${1:-10}"
CONNS="${2:-32}"
command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
python3 -c 'import phonenumbers' 2>/dev/null || python3 -m pip install --quiet phonenumbers
cargo build --release --bins -q
CARGO_TARGET_DIR=target/regex-backend cargo build --release --bin nexmo-proxy --features regex-backend -q
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
wait_for() { # file pattern
  for _ in $(seq 1 200); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
  echo "timed out waiting for $2 in $1" >&2; cat "$1" >&2; exit 1
}

./target/release/fake-nexmo --port 0 >"$work/fake.log" 2>&1 &
pids+=($!)
wait_for "$work/fake.log" "listening on"
fake=$(grep -o 'http://[0-9.:]*' "$work/fake.log" | head -1)
cat >"$work/proxy.toml" <<TOML
[server]
listen = "127.0.0.1:0"
admin_listen = ""
max_connections_per_ip = 10000
[nexmo]
dry_run = true
[validation]
limits = [{ per = "ip", max = 100000000, window = "1h" }]
TOML
benches/numbers.py 5000 >"$work/numbers.txt"
start() { # name binary
  RUST_LOG=warn,nexmo_proxy::server=info "$2" --config "$work/proxy.toml" >"$work/$1.log" 2>&1 &
  pids+=($!)
  wait_for "$work/$1.log" "listening on"
}
start lite ./target/release/nexmo-proxy
lite_pid=${pids[-1]}
lite=$(grep -o 'http://[0-9.:]*' "$work/lite.log" | tail -1)
start regex ./target/regex-backend/release/nexmo-proxy
regex_pid=${pids[-1]}
regex=$(grep -o 'http://[0-9.:]*' "$work/regex.log" | tail -1)

# Warm-up: one request for each of the first 200 regions' first number,
# in sequence, on a fresh process (each region's patterns are compiled on
# its first number).
python3 - "$work/numbers.txt" >"$work/firsts.txt" <<'PY'
import sys, phonenumbers
seen = {}
for line in open(sys.argv[1]):
    n = line.strip()
    r = phonenumbers.region_code_for_number(phonenumbers.parse(n))
    seen.setdefault(r, n)
for n in list(seen.values())[:200]:
    print(n.replace("+", "%2B"))
PY
warm() { # url
  local t0 t1
  t0=$(date +%s%N)
  while read -r n; do curl -sf -o /dev/null "$1/validate_number/?number=$n"; done <"$work/firsts.txt"
  t1=$(date +%s%N)
  echo $(( (t1 - t0) / 1000000 ))
}
warm_lite=$(warm "$lite")
warm_regex=$(warm "$regex")
warm_lite_again=$(warm "$lite")
warm_regex_again=$(warm "$regex")

run() { # url
  NUMBERS="$work/numbers.txt" wrk -t2 -c"$CONNS" -d"${DUR}s" -s benches/varied.lua "$1" |
    awk '/^Requests\/sec/ {print $2}'
}
base=$(wrk -t2 -c"$CONNS" -d"${DUR}s" "$fake/sms/json" | awk '/^Requests\/sec/ {print $2}')
rows=()
for round in 1 2 3; do
  rows+=("lite|$round|$(run "$lite")")
  rows+=("regex|$round|$(run "$regex")")
done
base2=$(wrk -t2 -c"$CONNS" -d"${DUR}s" "$fake/sms/json" | awk '/^Requests\/sec/ {print $2}')
rss() { echo $(( $(awk '/VmHWM/ {print $2}' "/proc/$1/status") / 1024 )); }

echo
echo "wrk -t2 -c$CONNS -d${DUR}s, numbers of every region, on $(nproc) cores, $(date -u +%Y-%m-%d)"
echo "bare server: $base requests/s before, $base2 after"
echo
echo "| backend | round | requests/s | ratio to the first bare run |"
echo "|---|---|---|---|"
for r in "${rows[@]}"; do
  IFS='|' read -r name round rps <<<"$r"
  echo "| $name | $round | $rps | $(python3 -c "print(f'{$rps/$base:.2f}')") |"
done
echo
echo "peak RSS: lite $(rss "$lite_pid") MiB, regex $(rss "$regex_pid") MiB"
echo "200 regions' first numbers, one after another on a fresh process: lite ${warm_lite} ms, regex ${warm_regex} ms; warm again: lite ${warm_lite_again} ms, regex ${warm_regex_again} ms"
