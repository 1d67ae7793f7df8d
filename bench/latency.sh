#!/usr/bin/env bash
# Latency benchmark for prometheus_sink: how fast an export goes when the
# receiver takes a while to answer each request, for several max_in_flight,
# next to vmagent (and the npm prometheus-remote-write client) sending the
# same samples to the same receiver. Prints one markdown table (and a few
# check lines) on stdout; progress goes to stderr. Never fails on timing:
# the issue's targets are only marked met / not met. Exits 1 only when the
# build, a tool, or a run fails (or a sample count does not match).
#
#   bench/latency.sh                  # delays 0,10,50,200 ms × max_in_flight 1,4,16,default
#   bench/latency.sh -r 3             # median of 3 runs per figure
#   bench/latency.sh -d 50 -n 200000:1024 --no-vmagent --no-npm
#
# For each delay it starts one bench/null_receiver --decode --delay-ms D
# (every POST answered D ms after its body arrived, on its connection's own
# thread, so concurrent requests wait at the same time; samples are decoded
# and counted when answered), then, in a fresh `sqlite3 :memory:` each,
# runs the export of bench/run.sh (`INSERT INTO sink SELECT <the 700-series
# source> FROM generate_series(1,N)`, helpers from bench/lib.sh) for every
# N:batch_size and max_in_flight ("default" passes no max_in_flight), then
# the peers: vmagent fed the same samples as Prometheus text at
# /api/v1/import/prometheus and forwarding them to the receiver (timed from
# the start of the import until the receiver has counted every sample), and
# bench/prw_client.js (npm prometheus-remote-write; installed once into the
# build folder) at each --npm-concurrency.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: bench/latency.sh [options]
  -d, --delays LIST       receiver answer delays in ms (default 0,10,50,200)
  -m, --in-flight LIST    max_in_flight values; "default" creates the sink without
                          the option (default 1,4,16,default)
  -n, --sizes LIST        N:BATCH pairs: rows and batch_size (default 200000:1024,1000000:10000)
  -r, --reps R            runs per figure; the median is shown (default 1)
  --peer-n N              rows for vmagent and the npm client (default 1000000)
  --peer-batch B          rows per request of the npm client (default 10000, vmagent's
                          -remoteWrite.maxRowsPerBlock default)
  --npm-concurrency LIST  requests the npm client keeps waiting at once (default 1,8)
  --no-vmagent            skip vmagent
  --no-npm                skip the npm prometheus-remote-write client
  --cte                   use a recursive CTE instead of generate_series
  --no-build              do not run ninja first
  environment: BUILD_DIR (default <repo>/build); VMAGENT (default vmagent);
  BENCH_NOTE, a line printed under the machine description
EOF
}

ARGS=$*
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD_DIR:-$ROOT/build}
DELAYS=(0 10 50 200)
INFLIGHT=(1 4 16 default)
SIZES=(200000:1024 1000000:10000)
REPS=1
PEER_N=1000000
PEER_BATCH=10000
NPM_CONC=(1 8)
DO_VMAGENT=1
DO_NPM=1
USE_CTE=0
DO_BUILD=1
DEFAULT_SHARDS=8          # src/options.h: max_in_flight's default
PRW_VERSION=0.5.1         # the npm prometheus-remote-write measured

while (($#)); do
  case $1 in
    -d|--delays) IFS=', ' read -r -a DELAYS <<< "${2:?}"; shift ;;
    -m|--in-flight) IFS=', ' read -r -a INFLIGHT <<< "${2:?}"; shift ;;
    -n|--sizes) IFS=', ' read -r -a SIZES <<< "${2:?}"; shift ;;
    -r|--reps) REPS=${2:?}; shift ;;
    --peer-n) PEER_N=${2:?}; shift ;;
    --peer-batch) PEER_BATCH=${2:?}; shift ;;
    --npm-concurrency) IFS=', ' read -r -a NPM_CONC <<< "${2:?}"; shift ;;
    --no-vmagent) DO_VMAGENT=0 ;;
    --no-npm) DO_NPM=0 ;;
    --cte) USE_CTE=1 ;;
    --no-build) DO_BUILD=0 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "bench/latency.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
bad() { echo "bench/latency.sh: $*" >&2; exit 2; }
for v in "$REPS" "$PEER_N" "$PEER_BATCH" "${NPM_CONC[@]}"; do
  [[ $v =~ ^[1-9][0-9]*$ ]] || bad "'$v' is not a positive integer"
done
for v in "${DELAYS[@]}"; do [[ $v =~ ^(0|[1-9][0-9]*)$ ]] || bad "delay '$v' is not a number of ms"; done
for v in "${INFLIGHT[@]}"; do
  [[ $v = default || ($v =~ ^[1-9][0-9]*$ && $v -le 16) ]] || bad "max_in_flight '$v' is not 1 … 16 or 'default'"
done
for v in "${SIZES[@]}"; do [[ $v =~ ^[1-9][0-9]*:[1-9][0-9]*$ ]] || bad "size '$v' is not N:BATCH"; done

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
require_tools
bench_build prometheus_sink.so bench/null_receiver

RX_PID='' VMA_PID='' WORK=''
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  stop_pid "$VMA_PID"
  stop_pid "$RX_PID"
  [ -n "$WORK" ] && rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bench_workdir  # WORK, and the module under test copied there as $MOD.so
check_generate_series
describe_machine
RUN_TIMEOUT=900  # seconds: an export that hangs fails instead of stopping the benchmark
T_START=$(date +%s)

# ---------------------------------------------------------------- peers' setup

VMAGENT=${VMAGENT:-vmagent}
VM_NOTE=""
if ((DO_VMAGENT)); then
  if command -v "$VMAGENT" > /dev/null; then
    # (Debian's build prints an empty -version: ask the package)
    VM_VERSION=$("$VMAGENT" -version 2>/dev/null | head -n 1 || true)
    [ -n "$VM_VERSION" ] || VM_VERSION=$(dpkg-query -W -f='${Version}' victoria-metrics 2>/dev/null | sed 's/+.*//' || true)
    [ -n "$VM_VERSION" ] || VM_VERSION="?"
  else
    DO_VMAGENT=0; VM_NOTE="vmagent: not run ($VMAGENT not found; Debian package victoria-metrics)"
  fi
fi

NPM_NOTE=""
NPM_DIR=$BUILD/bench/npm  # installed once, kept with the build
if ((DO_NPM)); then
  if ! command -v node > /dev/null || ! command -v npm > /dev/null; then
    DO_NPM=0; NPM_NOTE="npm prometheus-remote-write: not run (node/npm not installed)"
  elif [ ! -d "$NPM_DIR/node_modules/prometheus-remote-write" ]; then
    log "installing prometheus-remote-write@$PRW_VERSION from the npm registry into $NPM_DIR"
    mkdir -p "$NPM_DIR"
    if ! timeout 300 npm install --prefix "$NPM_DIR" --no-audit --no-fund --ignore-scripts --no-save \
         "prometheus-remote-write@$PRW_VERSION" > "$WORK/npm.log" 2>&1; then
      DO_NPM=0; NPM_NOTE="npm prometheus-remote-write: not run (npm install failed: $(tail -n 2 "$WORK/npm.log" | tr '\n' ' '))"
    fi
  fi
fi

# The peers' input: the export's rows (bench/lib.sh's source, narrow form) as
# Prometheus text, one sample a line, made by the same sqlite3 source.
if ((DO_VMAGENT)); then
  log "writing $(commas "$PEER_N") samples as Prometheus text"
  echo "$(with_prefix "$PEER_N")SELECT printf('bench_metric{host=\"h%d\",region=\"r%d\"} %d %d', value%100, value%7, value, 1700000000000+(value/100)*1000) FROM $(from_clause "$PEER_N");" |
    sqlite3 -batch -list :memory: > "$WORK/peer.txt" || die "could not write the Prometheus text"
  [ "$(wc -l < "$WORK/peer.txt")" = "$PEER_N" ] || die "the Prometheus text does not have $PEER_N lines"
fi

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# vmagent_run URL: one vmagent, fresh queue folder, fed $WORK/peer.txt;
# timed from the start of the import until the receiver on RX_PORT has
# counted PEER_N more samples. Sets RUN_OK, RUN_WALL, RUN_RSS (KB, the
# vmagent process's VmHWM), RUN_ERR, VM_REQS (receiver's count), VM_ROWS
# (vmagent_remotewrite_block_size_rows_sum), VM_QUEUES, VM_IMPORT (s, the
# import request alone).
vmagent_run() {
  local port qdir before after t0 t1 ti s0 s now deadline
  RUN_OK=0 RUN_ERR="" RUN_RSS=0 VM_REQS=0 VM_ROWS="?" VM_QUEUES="?" VM_IMPORT=""
  port=$(free_port)
  qdir=$WORK/vmagent-queue; rm -rf "$qdir"
  "$VMAGENT" -httpListenAddr="127.0.0.1:$port" -remoteWrite.url="$1" -remoteWrite.tmpDataPath="$qdir" \
    -loggerLevel=ERROR > "$WORK/vmagent.log" 2>&1 &
  VMA_PID=$!
  for _ in $(seq 1 200); do
    curl -fsS "http://127.0.0.1:$port/health" > /dev/null 2>&1 && break
    kill -0 "$VMA_PID" 2> /dev/null || break
    sleep 0.05
  done
  if ! curl -fsS "http://127.0.0.1:$port/health" > /dev/null 2>&1; then
    RUN_ERR="vmagent did not start: $(tail -n 3 "$WORK/vmagent.log" | tr '\n' ' ')"
    stop_pid "$VMA_PID"; VMA_PID=''
    return
  fi
  before=$(receiver_stats "$RX_PORT"); read -r _ _ s0 <<< "$before"
  t0=$(date +%s.%N)
  if ! curl -fsS --data-binary "@$WORK/peer.txt" "http://127.0.0.1:$port/api/v1/import/prometheus" > /dev/null 2> "$WORK/import.err"; then
    RUN_ERR="import failed: $(head -c 300 "$WORK/import.err")"
  fi
  ti=$(date +%s.%N)
  deadline=$(($(date +%s) + 600))
  while [ -z "$RUN_ERR" ]; do
    read -r _ _ s <<< "$(receiver_stats "$RX_PORT")"
    ((s - s0 >= PEER_N)) && break
    now=$(date +%s)
    ((now < deadline)) || RUN_ERR="the receiver counted $((s - s0)) of $PEER_N samples after 600 s"
    sleep 0.01
  done
  t1=$(date +%s.%N)
  after=$(receiver_stats "$RX_PORT")
  if [ -z "$RUN_ERR" ]; then
    RUN_OK=1
    RUN_WALL=$(calc '%.3f' "$t1 - $t0")
    VM_IMPORT=$(calc '%.3f' "$ti - $t0")
    VM_REQS=$(( $(cut -d' ' -f1 <<< "$after") - $(cut -d' ' -f1 <<< "$before") ))
    curl -fsS "http://127.0.0.1:$port/metrics" > "$WORK/vmagent.metrics" 2> /dev/null || true
    VM_ROWS=$(awk '/^vmagent_remotewrite_block_size_rows_sum/{ print $2 }' "$WORK/vmagent.metrics")
    VM_QUEUES=$(awk '/^vmagent_remotewrite_queues/{ print $2 }' "$WORK/vmagent.metrics")
    RUN_RSS=$(awk '/^VmHWM:/{ print $2 }' "/proc/$VMA_PID/status" 2> /dev/null || echo 0)
    local extra
    extra=$(( $(cut -d' ' -f3 <<< "$after") - s0 - PEER_N ))
    ((extra == 0)) || RUN_ERR="the receiver counted $extra samples more than sent"
  fi
  stop_pid "$VMA_PID"; VMA_PID=''
}

# ---------------------------------------------------------------- the runs

declare -A WALL REQS RSS OTH ERR ROWS_FWD QUEUES IMPORT
ANY_ERR=0
BOUND_NOTES=()
inflight_opt() { [ "$1" = default ] && return 0; echo "max_in_flight=$1"; }
shards_of() { if [ "$1" = default ]; then echo "$DEFAULT_SHARDS"; else echo "$1"; fi; }
fail() {  # fail KEY MESSAGE
  ERR[$1]=$2; ANY_ERR=1; log "  FAILED: $2"
}

for delay in "${DELAYS[@]}"; do
  start_receiver "$WORK/rx.$delay.out" --decode --delay-ms "$delay"; RX_PID=$STARTED_PID; RX_PORT=$STARTED_PORT
  URL="http://127.0.0.1:$RX_PORT/api/v1/write"
  log "receiver answering after $delay ms on port $RX_PORT"
  for ((rep = 1; rep <= REPS; rep++)); do
    for size in "${SIZES[@]}"; do
      n=${size%%:*} b=${size##*:}
      # max_in_flight interleaved: a change in machine load hits every one alike.
      for m in "${INFLIGHT[@]}"; do
        key=sink,$delay,$size,$m
        log "delay $delay ms, run $rep/$REPS: N=$n batch=$b max_in_flight=$m"
        export_sql narrow "$n" "$b" "$URL" "$(inflight_opt "$m")" > "$WORK/run.sql"
        before=$(receiver_stats "$RX_PORT")
        run_sql "$WORK/run.sql"
        after=$(receiver_stats "$RX_PORT")
        if ((!RUN_OK)); then fail "$key" "$RUN_ERR"; continue; fi
        IFS='|' read -r sent_bytes sent_samples sent_reqs <<< "$(tail -n 1 <<< "$RUN_OUT")"
        read -r rq0 by0 sa0 <<< "$before"; read -r rq1 by1 sa1 <<< "$after"
        log "  ${RUN_WALL}s, $sent_reqs requests, peak RSS ${RUN_RSS} KB, other load ${RUN_OTHERS} cores"
        [ "$sent_samples" = "$n" ] || fail "$key" "samples_sent=$sent_samples, expected $n"
        [ "$((sa1 - sa0))" = "$n" ] || fail "$key" "the receiver decoded $((sa1 - sa0)) samples, expected $n"
        if [ "$((rq1 - rq0))" != "$sent_reqs" ] || [ "$((by1 - by0))" != "$sent_bytes" ]; then
          fail "$key" "sink says $sent_reqs requests / $sent_bytes bytes, receiver saw $((rq1 - rq0)) / $((by1 - by0))"
        fi
        bound=$(( (n + b - 1) / b + $(shards_of "$m") ))
        ((sent_reqs <= bound)) ||
          BOUND_NOTES+=("delay $delay ms, N=$n, batch $b, max_in_flight=$m, run $rep: $sent_reqs requests > ceil(N/batch) + shards = $bound")
        WALL[$key]+="$RUN_WALL "; REQS[$key]+="$sent_reqs "; RSS[$key]+="$RUN_RSS "; OTH[$key]+="$RUN_OTHERS "
      done
    done
    if ((DO_VMAGENT)); then
      key=vmagent,$delay
      log "delay $delay ms, run $rep/$REPS: vmagent, $PEER_N samples"
      vmagent_run "$URL"
      if ((!RUN_OK)); then fail "$key" "$RUN_ERR"; else
        [ -z "$RUN_ERR" ] || fail "$key" "$RUN_ERR"
        log "  ${RUN_WALL}s (import ${VM_IMPORT}s), $VM_REQS requests, $VM_ROWS rows forwarded, $VM_QUEUES queues"
        [ "$VM_ROWS" = "$PEER_N" ] || fail "$key" "vmagent_remotewrite_block_size_rows_sum=$VM_ROWS, expected $PEER_N"
        WALL[$key]+="$RUN_WALL "; REQS[$key]+="$VM_REQS "; RSS[$key]+="$RUN_RSS "
        ROWS_FWD[$key]=$VM_ROWS QUEUES[$key]=$VM_QUEUES IMPORT[$key]+="$VM_IMPORT "
      fi
    fi
    if ((DO_NPM)); then
      for c in "${NPM_CONC[@]}"; do
        key=npm,$delay,$c
        log "delay $delay ms, run $rep/$REPS: npm prometheus-remote-write, $PEER_N samples, $c at once"
        before=$(receiver_stats "$RX_PORT")
        NODE_PATH="$NPM_DIR/node_modules" run_timed /dev/null node "$ROOT/bench/prw_client.js" "$URL" "$PEER_N" "$PEER_BATCH" "$c"
        after=$(receiver_stats "$RX_PORT")
        if ((!RUN_OK)); then fail "$key" "$RUN_ERR"; continue; fi
        read -r rq0 _ sa0 <<< "$before"; read -r rq1 _ sa1 <<< "$after"
        log "  ${RUN_WALL}s, $((rq1 - rq0)) requests, peak RSS ${RUN_RSS} KB"
        [ "$((sa1 - sa0))" = "$PEER_N" ] || fail "$key" "the receiver decoded $((sa1 - sa0)) samples, expected $PEER_N"
        WALL[$key]+="$RUN_WALL "; REQS[$key]+="$((rq1 - rq0)) "; RSS[$key]+="$RUN_RSS "; OTH[$key]+="$RUN_OTHERS "
      done
    fi
  done
  stop_pid "$RX_PID"; RX_PID=''
done
T_END=$(date +%s)

# ---------------------------------------------------------------- report

printf '\n## prometheus_sink latency benchmark\n\n'
echo "- machine: $(nproc) cores, CPU \"$CPU_MODEL\", ${MEM_GIB} GiB memory, Linux $(uname -r); sqlite3 $(sqlite3 --version | cut -d' ' -f1); module $MOD_VERSION (git $GIT_REV)"
[ -n "${BENCH_NOTE:-}" ] && echo "- note: $BENCH_NOTE"
echo "- command: bench/latency.sh${ARGS:+ $ARGS}; $REPS run(s) per figure (median), $((T_END - T_START)) s in all"
echo "- source: $SOURCE_NOTE, 700 series; each sink figure is a fresh \`sqlite3 :memory:\` process (wall time includes its start, .load and CREATE)"
echo "- receiver: bench/null_receiver --decode --delay-ms D, one per delay, shared by every client of that delay: each POST is decoded and answered D ms after its body arrived, on its connection's own thread"
echo
echo "| delay ms | client | rows | batch_size | max_in_flight | wall s | samples/s | requests | ×(max_in_flight=1) | spread | peak RSS MB | other load |"
echo "|---:|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|"
declare -A MED
medwall() { [ -n "${WALL[$1]:-}" ] && median "${WALL[$1]}"; }
# row KEY DELAY CLIENT ROWS BATCH INFLIGHT REFKEY
row() {
  local key=$1 w ref x spread reqs oth
  if [ -z "${WALL[$key]:-}" ]; then
    echo "| $2 | $3 | $(commas "$4") | $5 | $6 | ERROR: ${ERR[$key]//|//} | | | | | | |"
    return
  fi
  w=$(medwall "$key"); MED[$key]=$w
  ref=$(medwall "$7" || true)
  x=-; [ -n "$ref" ] && x=$(calc '%.2f' "$ref / $w")
  spread=-; ((REPS > 1)) && spread=$(calc '%.0f%%' "($(maxof "${WALL[$key]}") - $(minof "${WALL[$key]}")) / $w * 100")
  reqs=$(minof "${REQS[$key]}"); [ "$reqs" = "$(maxof "${REQS[$key]}")" ] || reqs="$reqs–$(maxof "${REQS[$key]}")"
  oth=-; [ -n "${OTH[$key]:-}" ] && oth=$(maxof "${OTH[$key]}")
  local note=""; [ -n "${ERR[$key]:-}" ] && note=" (ERROR: ${ERR[$key]//|//})"
  echo "| $2 | $3$note | $(commas "$4") | $5 | $6 | $(calc '%.3f' "$w") | $(commas "$(calc '%.0f' "$4 / $w")") | $(commas "$reqs") | $x | $spread | $(calc '%.1f' "$(median "${RSS[$key]}") / 1024") | $oth |"
}
for delay in "${DELAYS[@]}"; do
  for size in "${SIZES[@]}"; do
    n=${size%%:*} b=${size##*:}
    for m in "${INFLIGHT[@]}"; do
      label=$m; [ "$m" = default ] && label="default ($DEFAULT_SHARDS)"
      row "sink,$delay,$size,$m" "$delay" prometheus_sink "$n" "$b" "$label" "sink,$delay,$size,1"
    done
  done
  if ((DO_VMAGENT)); then
    key=vmagent,$delay
    row "$key" "$delay" "vmagent $VM_VERSION" "$PEER_N" "≤10000 (its block)" "${QUEUES[$key]:-?} queues (its default)" "sink,$delay,$PEER_N:$PEER_BATCH,1"
  fi
  if ((DO_NPM)); then
    for c in "${NPM_CONC[@]}"; do
      row "npm,$delay,$c" "$delay" "npm prometheus-remote-write $PRW_VERSION" "$PEER_N" "$PEER_BATCH" "$c at once" "sink,$delay,$PEER_N:$PEER_BATCH,1"
    done
  fi
done
echo
echo "Columns: wall s = median wall time: of the sqlite3 process for prometheus_sink (COMMIT returns once every request"
echo "was answered); for vmagent, from the start of the import POST until the receiver had answered and counted every"
echo "sample; for the npm client, of the node process. samples/s = rows / wall. requests = HTTP requests (the sink's"
echo "prometheus_sink_stats, checked against the receiver's count; the receiver's count for the peers). ×(max_in_flight=1)"
echo "= wall of prometheus_sink with max_in_flight=1 at the same delay and rows (for the peers: at $(commas "$PEER_N") rows, batch_size"
echo "$PEER_BATCH) / this wall. spread = (max − min) / median of the wall times. peak RSS = of the sqlite3 / vmagent / node process."
echo "other load = CPU cores busy with anything but this process and the receiver during the run (max over runs)."
echo
if ((DO_VMAGENT)); then
  for delay in "${DELAYS[@]}"; do
    key=vmagent,$delay
    [ -n "${IMPORT[$key]:-}" ] &&
      echo "- vmagent at $delay ms: the import POST itself took $(calc '%.3f' "$(median "${IMPORT[$key]}")") s; vmagent_remotewrite_block_size_rows_sum = $(commas "${ROWS_FWD[$key]}") (rows forwarded); queues: ${QUEUES[$key]}"
  done
  echo "- vmagent $VM_VERSION (Debian package victoria-metrics), started per run with only -httpListenAddr, -remoteWrite.url, -remoteWrite.tmpDataPath (fresh) and -loggerLevel=ERROR; its input, $(commas "$PEER_N") lines of Prometheus text, is written beforehand (not timed)"
else
  [ -n "$VM_NOTE" ] && echo "- $VM_NOTE"
fi
if ((DO_NPM)); then
  echo "- npm prometheus-remote-write $PRW_VERSION (node $(node --version)): bench/prw_client.js builds each request's series from the rows and calls pushTimeseries() (Node's fetch); \"k at once\" = k requests awaiting their answer at a time (the library itself sends one per call)"
else
  echo "- ${NPM_NOTE:-npm prometheus-remote-write: not run (--no-npm)}"
fi
if ((${#BOUND_NOTES[@]})); then
  echo "- requests over ceil(N/batch_size) + shards:"; printf '  - %s\n' "${BOUND_NOTES[@]}"
else
  echo "- every prometheus_sink run sent at most ceil(N/batch_size) + shards requests (shards: max_in_flight, $DEFAULT_SHARDS by default)"
fi
echo "- samples: every run's samples were decoded and counted by the receiver$( ((ANY_ERR)) && echo " — EXCEPT the runs marked ERROR above" || echo ", as many as sent")"

# ---------------------------------------------------------------- targets

echo
echo "### Targets (issue 12; reported, never enforced)"
echo
echo "| target | measured | |"
echo "|---|---:|---|"
tcase=sink,50,200000:1024
w1=${MED[$tcase,1]:-} w16=${MED[$tcase,16]:-} wd=${MED[$tcase,default]:-}
if [ -n "$w1" ] && [ -n "$w16" ]; then
  echo "| 50 ms, 200,000 rows, batch_size 1024: max_in_flight=16 ≥ 8× faster than max_in_flight=1 | $(calc '%.3f' "$w1") s / $(calc '%.3f' "$w16") s = $(calc '%.2f' "$w1 / $w16")× | $(mark "$w1 / $w16 >= 8") |"
  r16=$(maxof "${REQS[$tcase,16]}")
  echo "| … and at most ceil(200000/1024) + 16 = $(( (200000 + 1023) / 1024 + 16 )) requests | $r16 | $(mark "$r16 <= $(( (200000 + 1023) / 1024 + 16 ))") |"
else
  echo "| 50 ms, 200,000 rows, batch_size 1024: max_in_flight=16 ≥ 8× max_in_flight=1 | not measured (needs -d 50, -n 200000:1024, -m 1,16) | |"
fi
if [ -n "$w1" ] && [ -n "$wd" ]; then
  echo "| the same case: the default ($DEFAULT_SHARDS shards) ≥ 4× faster than max_in_flight=1 | $(calc '%.3f' "$w1") s / $(calc '%.3f' "$wd") s = $(calc '%.2f' "$w1 / $wd")× | $(mark "$w1 / $wd >= 4") |"
else
  echo "| the default ≥ 4× max_in_flight=1 at 50 ms | not measured (needs -m 1,default) | |"
fi
exit "$ANY_ERR"
