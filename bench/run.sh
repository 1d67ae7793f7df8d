#!/usr/bin/env bash
# Export benchmark for prometheus_sink: how much an INSERT … SELECT into a sink
# costs over computing the same rows, how large its requests are, and how
# much memory it needs. Prints one markdown table (and a few check lines) on
# stdout; progress goes to stderr. Never fails on timing: targets are only
# marked met / not met. Exits 1 only when the build, a tool, or a run fails.
#
#   bench/run.sh                 # N = 1,000,000 and 10,000,000, median of 5 runs each
#   bench/run.sh --quick         # N = 200,000 and 1,000,000
#   bench/run.sh -n 500000,2000000 -r 5 --no-victoria
#
# What it does: builds (ninja), copies build/prometheus_sink.so aside (so a
# rebuild during the run cannot change the module under test), starts
# bench/null_receiver, measures the receiver's own ceiling with
# bench/receiver_ceiling, then for every N and repetition runs, each in a fresh
# `sqlite3 :memory:` process: the bare source query (LIMIT -1 so that its
# columns are computed), the same INSERT into bench/floor_vtab (a virtual
# table that only reads the values: SQLite's own share), the export at each
# batch size, and the same for the wide-row form. Wall time is taken around
# the process with date +%s.%N, peak RSS and CPU time with /usr/bin/time.
# Bytes/request counts come from prometheus_sink_stats in the same sqlite3 run
# and are checked against the receiver's own counters. bench/baseline_encode
# gives the bytes/sample of a straightforward encoder. Finally one export
# into a real VictoriaMetrics. The helpers (build, receivers, timing, the
# source queries) are in bench/lib.sh, shared with bench/latency.sh.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: bench/run.sh [options]
  --quick              N = 200000,1000000 and a shorter ceiling run
  -n, --sizes LIST     comma-separated row counts (default 1000000,10000000)
  -r, --reps R         runs per figure; the median is shown (default 5)
  -b, --batches LIST   batch sizes of the export (default 1024,10000)
  --forms LIST         comma-separated forms (default all: narrow,wide,card-json,card-wide,card-int,labels12;
                       see bench/lib.sh: 700 series, first-seen series as JSON or label columns,
                       first-seen series with an INTEGER id in the JSON, 12-label series)
  --victoria-n N       rows for the VictoriaMetrics run (default 1000000)
  --no-victoria        skip the VictoriaMetrics run
  --instructions N     also count instructions (valgrind callgrind) per row for
                       N rows: a figure that other load on the machine cannot move
  --cte                use a recursive CTE instead of generate_series
  --no-build           do not run ninja first
  environment: BUILD_DIR (default <repo>/build); BENCH_NOTE, a line printed
  under the machine description (e.g. which snapshot was measured)
EOF
}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD_DIR:-$ROOT/build}
SIZES=(1000000 10000000)
BATCHES=(1024 10000)
REPS=5
VICTORIA=1
VM_N=1000000
VM_BATCH=10000
CEIL_REQ=20000
CEIL_BODY=20480
USE_CTE=0
DO_BUILD=1
INSTR_N=0
WANT_FORMS=()

while (($#)); do
  case $1 in
    --quick) SIZES=(200000 1000000); CEIL_REQ=5000 ;;
    -n|--sizes) IFS=', ' read -r -a SIZES <<< "${2:?}"; shift ;;
    -r|--reps) REPS=${2:?}; shift ;;
    -b|--batches) IFS=', ' read -r -a BATCHES <<< "${2:?}"; shift ;;
    --victoria-n) VM_N=${2:?}; shift ;;
    --no-victoria) VICTORIA=0 ;;
    --forms) IFS=', ' read -r -a WANT_FORMS <<< "${2:?}"; shift ;;
    --instructions) INSTR_N=${2:?}; shift ;;
    --cte) USE_CTE=1 ;;
    --no-build) DO_BUILD=0 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "bench/run.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
for v in "${SIZES[@]}" "${BATCHES[@]}" "$REPS" "$VM_N"; do
  [[ $v =~ ^[1-9][0-9]*$ ]] || { echo "bench/run.sh: '$v' is not a positive integer" >&2; exit 2; }
done
if ! [[ $INSTR_N =~ ^[0-9]+$ ]] || [ "$INSTR_N" = 1 ]; then
  echo "bench/run.sh: --instructions wants a row count of at least 2, not '$INSTR_N'" >&2; exit 2
fi

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
require_tools
bench_build prometheus_sink.so bench/null_receiver bench/receiver_ceiling bench/baseline_encode bench/floor_vtab.so

RX_PID='' DRX_PID='' VM_DIR='' WORK=''
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  [ -n "$RX_PID" ] && kill -TERM "$RX_PID" 2>/dev/null && wait "$RX_PID" 2>/dev/null
  [ -n "$DRX_PID" ] && kill -TERM "$DRX_PID" 2>/dev/null && wait "$DRX_PID" 2>/dev/null
  [ -n "$VM_DIR" ] && "$ROOT/scripts/victoria.sh" stop "$VM_DIR" >&2 2>/dev/null
  [ -n "$WORK" ] && rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bench_workdir  # WORK, and the module under test copied there as $MOD.so
FLOOR_MOD=$WORK/floor_vtab
cp "$BUILD/bench/floor_vtab.so" "$FLOOR_MOD.so"

# ---------------------------------------------------------------- source queries

# The export's source and SQL (from_clause, insert_sql, bare_sql, export_sql)
# are in bench/lib.sh.
# floor_sql narrow|wide N: the same INSERT into bench/floor_vtab, a virtual
# table whose xUpdate only reads the values: what SQLite itself spends on an
# INSERT into any virtual table.
floor_sql() {
  local labels; labels=$(form_labels "$1")
  echo ".load $FLOOR_MOD"
  if [ -z "$labels" ]; then
    echo "CREATE VIRTUAL TABLE temp.sink USING floor_vtab;"
  else
    echo "CREATE VIRTUAL TABLE temp.sink USING floor_vtab($labels);"
  fi
  insert_sql "$1" "$2"
}
# run_label BATCH: how a run is named in the tables.
run_label() {
  case $1 in
    bare) echo "bare source" ;;
    floor) echo "floor (no-op virtual table)" ;;
    *) echo "export batch=$1" ;;
  esac
}
# make_sql FORM N BATCH URL: the SQL of one run.
make_sql() {
  case $3 in
    bare) bare_sql "$1" "$2" ;;
    floor) floor_sql "$1" "$2" ;;
    *) export_sql "$1" "$2" "$3" "$4" "${BENCH_SINK_OPTIONS:-}" ;;
  esac
}

check_generate_series

# ---------------------------------------------------------------- setup checks

start_receiver "$WORK/rx.out"; RX_PID=$STARTED_PID; RX_PORT=$STARTED_PORT
URL="http://127.0.0.1:$RX_PORT/api/v1/write"
log "null receiver on port $RX_PORT"

WIDE=1
printf '.load %s\nCREATE VIRTUAL TABLE temp.w USING prometheus_sink(url=%s, metric=%s, host, region);\n' \
  "$MOD" "'$URL'" "'bench_metric'" > "$WORK/wide_probe.sql"
if ! sqlite3 -batch -bail :memory: < "$WORK/wide_probe.sql" > /dev/null 2> "$WORK/wide_probe.err"; then
  WIDE=0
  log "wide rows not available in this build: $(cat "$WORK/wide_probe.err")"
fi
((${#WANT_FORMS[@]})) || WANT_FORMS=("${FORMS_ALL[@]}")
FORMS=()
for f in "${WANT_FORMS[@]}"; do
  form_cols "$f" > /dev/null
  case $f in wide|card-wide) ((WIDE)) && FORMS+=("$f") ;; *) FORMS+=("$f") ;; esac
done
((${#FORMS[@]})) || die "no form to run"

explain_has() { sqlite3 :memory: "EXPLAIN $1" | grep -c -- "$2" || true; }
with_limit=$(explain_has "$(bare_sql narrow 10)" json_object)
without_limit=$(explain_has "$(bare_sql narrow 10 | sed 's/ LIMIT -1//')" json_object)
if ((with_limit > 0)); then
  EXPLAIN_NOTE="EXPLAIN: the bare source with LIMIT -1 computes its columns (json_object is in its program); without LIMIT -1 json_object $( ((without_limit > 0)) && echo "is in the program too" || echo "is absent (the subquery is flattened and computes nothing)")."
else
  EXPLAIN_NOTE="EXPLAIN: WARNING: json_object does not appear in the bare source's program even with LIMIT -1: the bare figure measures row generation only."
fi
if ((WIDE)); then
  wide_concat=$(explain_has "$(bare_sql wide 10)" Concat)
  EXPLAIN_NOTE+=" Wide bare source: $( ((wide_concat > 0)) && echo "Concat is in its program (columns computed)" || echo "WARNING: no Concat in its program")."
fi

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
describe_machine

# ---------------------------------------------------------------- receiver ceiling

log "receiver ceiling: $CEIL_REQ POSTs of $CEIL_BODY bytes over one connection"
CEIL_LINE=$("$BUILD/bench/receiver_ceiling" "$URL" "$CEIL_REQ" "$CEIL_BODY") || die "receiver_ceiling failed"
CEIL_RPS=$(sed -E 's/.*req_per_s=([0-9.]+).*/\1/' <<< "$CEIL_LINE")
CEIL_MBS=$(sed -E 's/.*mb_per_s=([0-9.]+).*/\1/' <<< "$CEIL_LINE")
CEIL_SMALL=$("$BUILD/bench/receiver_ceiling" "$URL" "$CEIL_REQ" 2048) || die "receiver_ceiling failed"
CEIL_SMALL_RPS=$(sed -E 's/.*req_per_s=([0-9.]+).*/\1/' <<< "$CEIL_SMALL")

# ---------------------------------------------------------------- fixed cost

# What every run pays whatever N: starting sqlite3 (and, for an export,
# loading the module, creating the sink, one request).
log "fixed cost: one-row runs"
FIX_BARE=() FIX_EXPORT=()
for ((rep = 1; rep <= REPS; rep++)); do
  bare_sql narrow 1 > "$WORK/run.sql"; run_sql "$WORK/run.sql"; FIX_BARE+=("$RUN_WALL")
  export_sql narrow 1 1024 "$URL" > "$WORK/run.sql"; run_sql "$WORK/run.sql"; FIX_EXPORT+=("$RUN_WALL")
  ((RUN_OK)) || die "a one-row export fails: $RUN_ERR"
done

# ---------------------------------------------------------------- baseline encoder

declare -A BASE BASE_BYTES
for n in "${SIZES[@]}"; do
  for b in "${BATCHES[@]}"; do
    log "baseline encoder: N=$n batch=$b"
    line=$("$BUILD/bench/baseline_encode" "$n" "$b") || die "baseline_encode failed"
    BASE[$n,$b]=$(sed -E 's/.* bytes_per_sample=([0-9.]+).*/\1/' <<< "$line")
    BASE_BYTES[$n,$b]=$(sed -E 's/.* compressed_bytes=([0-9]+).*/\1/' <<< "$line")
  done
done

# ---------------------------------------------------------------- the runs

declare -A WALL RSS CPU OTH BYTES REQS ERR PAIR CPAIR LASTBARE LASTBARECPU
MISMATCH=()
ANY_ERR=0
for n in "${SIZES[@]}"; do
  for ((rep = 1; rep <= REPS; rep++)); do
    for form in "${FORMS[@]}"; do
      # bare source, then each batch size: interleaved so that a change in
      # machine load hits every figure of a repetition alike.
      for b in bare floor "${BATCHES[@]}"; do
        key=$form,$n,$b
        make_sql "$form" "$n" "$b" "$URL" > "$WORK/run.sql"
        log "N=$n run $rep/$REPS: $form $(run_label "$b")"
        before=$(receiver_stats "$RX_PORT")
        run_sql "$WORK/run.sql"
        after=$(receiver_stats "$RX_PORT")
        if ((!RUN_OK)); then
          ERR[$key]=$RUN_ERR; ANY_ERR=1
          log "  FAILED: $RUN_ERR"
          continue
        fi
        WALL[$key]+="$RUN_WALL "; RSS[$key]+="$RUN_RSS "; CPU[$key]+="$RUN_CPU "; OTH[$key]+="$RUN_OTHERS "
        log "  ${RUN_WALL}s, ${RUN_CPU}s CPU, peak RSS ${RUN_RSS} KB, other load ${RUN_OTHERS} cores"
        if [ "$b" = bare ]; then
          [ "$RUN_OUT" = "$n" ] || { ERR[$key]="count(*) returned '$RUN_OUT'"; ANY_ERR=1; }
          LASTBARE[$form,$n]=$RUN_WALL; LASTBARECPU[$form,$n]=$RUN_CPU
          continue
        fi
        # Paired with the bare run of this repetition, seconds before: the
        # load of this shared machine changes over seconds, not within a pair.
        if [ -n "${LASTBARE[$form,$n]:-}" ]; then
          PAIR[$key]+="$(calc '%.4f' "$RUN_WALL / ${LASTBARE[$form,$n]}") "
          awk "BEGIN { exit !(${LASTBARECPU[$form,$n]} > 0) }" &&
            CPAIR[$key]+="$(calc '%.4f' "$RUN_CPU / ${LASTBARECPU[$form,$n]}") "
        fi
        [ "$b" = floor ] && continue
        IFS='|' read -r sent_bytes sent_samples sent_reqs <<< "$(tail -n 1 <<< "$RUN_OUT")"
        if [ "$sent_samples" != "$n" ]; then
          ERR[$key]="samples_sent=$sent_samples, expected $n"; ANY_ERR=1
        fi
        BYTES[$key]=$sent_bytes; REQS[$key]=$sent_reqs
        read -r rq0 by0 _ <<< "$before"; read -r rq1 by1 _ <<< "$after"
        if [ "$((rq1 - rq0))" != "$sent_reqs" ] || [ "$((by1 - by0))" != "$sent_bytes" ]; then
          MISMATCH+=("$form N=$n batch=$b run $rep: sink says $sent_reqs requests / $sent_bytes bytes, receiver saw $((rq1 - rq0)) / $((by1 - by0))")
        fi
      done
    done
  done
done

# ---------------------------------------------------------------- instruction counts

# Instructions executed by the sqlite3 process (user space, all threads) under
# callgrind; the per-row figure is the marginal cost (I(N) - I(1)) / (N - 1),
# so start-up, .load and CREATE drop out.
declare -A INSTR INSTR_SQL
# Prints "all-threads sql-thread": the sender's worker threads run beside the
# SQL thread, so the SQL thread's count is what an export waits for.
instr_count() {
  rm -f "$WORK"/cg.out*
  valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$WORK/cg.out" \
    sqlite3 -batch -bail :memory: < "$1" > /dev/null 2> "$WORK/cg.err" || return 1
  local all main
  all=$(cat "$WORK"/cg.out-* | awk '/^totals:/{ s += $2 } END { print s }')
  main=$(awk '/^totals:/{ print $2; exit }' "$WORK/cg.out-01")
  echo "$all $main"
}
INSTR_NOTE=""
if ((INSTR_N)); then
  if command -v valgrind > /dev/null; then
    for form in "${FORMS[@]}"; do
      for b in bare floor "${BATCHES[@]}"; do
        log "instructions: $form $b at N=1 and N=$INSTR_N (callgrind)"
        for n in 1 "$INSTR_N"; do
          make_sql "$form" "$n" "$b" "$URL" > "$WORK/run.sql"
          counts=$(instr_count "$WORK/run.sql") || { INSTR_NOTE="callgrind failed: $(tail -n 3 "$WORK/cg.err")"; break 3; }
          read -r "INSTR[$form,$b,$n]" "INSTR_SQL[$form,$b,$n]" <<< "$counts"
        done
      done
    done
  else
    INSTR_NOTE="valgrind not installed (apt-get install valgrind)"
  fi
fi

# ---------------------------------------------------------------- decode check

log "decode check: exports at N=${SIZES[0]} batch=${BATCHES[0]} into a decoding receiver"
start_receiver "$WORK/drx.out" --decode; DRX_PID=$STARTED_PID; DRX_PORT=$STARTED_PORT
DECODE_NOTES=()
for form in "${FORMS[@]}"; do
  before=$(receiver_stats "$DRX_PORT")
  export_sql "$form" "${SIZES[0]}" "${BATCHES[0]}" "http://127.0.0.1:$DRX_PORT/api/v1/write" > "$WORK/run.sql"
  run_sql "$WORK/run.sql"
  after=$(receiver_stats "$DRX_PORT")
  read -r _ _ s0 <<< "$before"; read -r _ _ s1 <<< "$after"
  if ((RUN_OK)) && [ "$((s1 - s0))" = "${SIZES[0]}" ]; then
    DECODE_NOTES+=("$form: $(commas $((s1 - s0))) samples decoded, as expected")
  else
    DECODE_NOTES+=("$form: MISMATCH: $((s1 - s0)) samples decoded, expected ${SIZES[0]} ${RUN_ERR}")
    ANY_ERR=1
  fi
done
kill -TERM "$DRX_PID" 2>/dev/null; wait "$DRX_PID" 2>/dev/null || true; DRX_PID=

# ---------------------------------------------------------------- VictoriaMetrics

VM_NOTE="skipped (--no-victoria)"
if ((VICTORIA)); then
  if [ -x "${VICTORIA_BIN:-/usr/bin/victoria-metrics}" ]; then
    VM_DIR=$WORK/vm; mkdir -p "$VM_DIR"
    log "VictoriaMetrics: starting"
    if VM_URL=$("$ROOT/scripts/victoria.sh" start "$VM_DIR" 2>"$WORK/vm.err"); then
      log "VictoriaMetrics: exporting N=$VM_N batch=$VM_BATCH to $VM_URL"
      export_sql narrow "$VM_N" "$VM_BATCH" "$VM_URL/api/v1/write" > "$WORK/run.sql"
      run_sql "$WORK/run.sql"
      if ((RUN_OK)); then
        vm_wall=$RUN_WALL vm_rss=$RUN_RSS
        curl -fsS "$VM_URL/internal/force_flush" > /dev/null
        vm_series=$(curl -fsS "$VM_URL/api/v1/series/count" | sed -E 's/.*"data":\[([0-9]+)\].*/\1/')
        vm_samples=$(curl -fsS "$VM_URL/api/v1/export" --data-urlencode 'match[]={__name__="bench_metric"}' |
          python3 -c 'import json, sys; print(sum(len(json.loads(l)["values"]) for l in sys.stdin if l.strip()))')
        verdict="all arrived"
        [ "$vm_samples" = "$VM_N" ] || { verdict="MISMATCH: expected $VM_N samples"; ANY_ERR=1; }
        vm_ratio=""
        if [ -n "${WALL[narrow,$VM_N,bare]:-}" ]; then
          vm_ratio=" = $(calc '%.2f' "$vm_wall / $(median "${WALL[narrow,$VM_N,bare]}")")× the bare source"
        fi
        VM_NOTE="N=$(commas "$VM_N"), batch $VM_BATCH, single run: ${vm_wall} s wall$vm_ratio, $(calc '%.2f' "$VM_N / $vm_wall / 1e6")M samples/s, peak RSS $(calc '%.1f' "$vm_rss / 1024") MB; read back after /internal/force_flush: $(commas "$vm_samples") samples in $vm_series series — $verdict. VictoriaMetrics shares the $(nproc) cores with sqlite3."
      else
        VM_NOTE="export FAILED: $RUN_ERR"; ANY_ERR=1
      fi
      "$ROOT/scripts/victoria.sh" stop "$VM_DIR" >&2 || true
      VM_DIR=
    else
      VM_NOTE="could not start: $(tail -n 3 "$WORK/vm.err")"
    fi
  else
    VM_NOTE="skipped: victoria-metrics not installed"
  fi
fi
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- report

fmt_wall() { calc '%.3f' "$1"; }
printf '\n## prometheus_sink export benchmark\n\n'
echo "- machine: $(nproc) cores, CPU \"$CPU_MODEL\", ${MEM_GIB} GiB memory, Linux $(uname -r); sqlite3 $(sqlite3 --version | cut -d' ' -f1); module $MOD_VERSION (git $GIT_REV)"
[ -n "${BENCH_NOTE:-}" ] && echo "- note: $BENCH_NOTE"
echo "- load average at start: $LOAD_START; at end: $LOAD_END"
echo "- source: $SOURCE_NOTE; each figure is the median of $REPS runs, each a fresh \`sqlite3 :memory:\` process"
echo "- $EXPLAIN_NOTE"
echo "- null receiver ceiling (one libcurl client, one kept-alive connection): $(commas "${CEIL_RPS%.*}") req/s, ${CEIL_MBS} MB/s with ${CEIL_BODY}-byte bodies; $(commas "${CEIL_SMALL_RPS%.*}") req/s with 2048-byte bodies"
echo "- fixed cost per run (N=1): $(calc '%.3f' "$(median "${FIX_BARE[@]}")") s for the bare source, $(calc '%.3f' "$(median "${FIX_EXPORT[@]}")") s for an export (sqlite3 start, .load, CREATE, one request); included in every wall time below"
((WIDE)) || echo "- wide rows: not available in this build ($(head -c 200 "$WORK/wide_probe.err"))"
echo
echo "| form | N | run | wall s | spread | samples/s | ×bare | CPU s | ×bare CPU | bytes/sample | baseline bytes/sample | requests | peak RSS MB | other load |"
echo "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
PEAK_RPS=0 PEAK_MBS=0
declare -A RATIO CRATIO MRSS BPS
for n in "${SIZES[@]}"; do
  for form in "${FORMS[@]}"; do
    for b in bare floor "${BATCHES[@]}"; do
      key=$form,$n,$b
      label=$(run_label "$b")
      if [ -n "${ERR[$key]:-}" ] && [ -z "${WALL[$key]:-}" ]; then
        echo "| $form | $(commas "$n") | $label | ERROR: ${ERR[$key]//|//} | | | | | | | | | | |"
        continue
      fi
      w=$(median "${WALL[$key]}"); rss=$(median "${RSS[$key]}"); cpu=$(median "${CPU[$key]}"); oth=$(maxof "${OTH[$key]}")
      spread=$(calc '%.0f%%' "($(maxof "${WALL[$key]}") - $(minof "${WALL[$key]}")) / $w * 100")
      MRSS[$key]=$rss
      rate=$(calc '%.2fM' "$n / $w / 1e6")
      ratio=- cratio=- bps=- base=- reqs=-
      if [ "$b" != bare ]; then
        if [ -n "${PAIR[$key]:-}" ]; then ratio=$(calc '%.2f' "$(median "${PAIR[$key]}")"); RATIO[$key]=$ratio; fi
        if [ -n "${CPAIR[$key]:-}" ]; then cratio=$(calc '%.2f' "$(median "${CPAIR[$key]}")"); CRATIO[$key]=$cratio; fi
      fi
      if [ "$b" != bare ] && [ "$b" != floor ]; then
        bps=$(calc '%.3f' "${BYTES[$key]} / $n"); BPS[$key]=$bps
        case $form in narrow|wide) base=$(calc '%.3f' "${BASE[$n,$b]}") ;; *) base=- ;; esac
        reqs=$(commas "${REQS[$key]}")
        PEAK_RPS=$(calc '%.0f' "${REQS[$key]} / $w > $PEAK_RPS ? ${REQS[$key]} / $w : $PEAK_RPS")
        PEAK_MBS=$(calc '%.1f' "${BYTES[$key]} / $w / 1e6 > $PEAK_MBS ? ${BYTES[$key]} / $w / 1e6 : $PEAK_MBS")
      fi
      note=""; [ -n "${ERR[$key]:-}" ] && note=" (ERROR: ${ERR[$key]//|//})"
      echo "| $form | $(commas "$n") | $label$note | $(fmt_wall "$w") | $spread | $rate | $ratio | $cpu | $cratio | $bps | $base | $reqs | $(calc '%.1f' "$rss / 1024") | $oth |"
    done
  done
done
echo
echo "Columns: wall s = process wall time (median); spread = (max − min) / median of the wall times; samples/s = N / wall;"
echo "×bare = median over the repetitions of export wall / wall of the bare-source run of the same form, N and repetition"
echo "(run just before it: pairs cancel the slow spells of this shared machine, which last seconds); CPU s = user + sys of"
echo "the sqlite3 process (all its threads: the SQL thread and the sender's); ×bare CPU = the same paired ratio on CPU time;"
echo "bytes/sample = compressed request bytes (prometheus_sink_stats.bytes_sent) / N; baseline = bench/baseline_encode (generated"
echo "protobuf classes, one TimeSeries per series per request, snappy) at the same N and batch; requests = HTTP requests sent;"
echo "peak RSS = max resident set of the sqlite3 process; other load = CPU cores busy with anything else during the run (max over runs)."
echo "floor = the same INSERT into bench/floor_vtab, a virtual table whose xUpdate only reads the row's values through"
echo "SQLite's API (type, then the bytes or the number) and keeps nothing: what SQLite spends on an INSERT into any virtual"
echo "table; an export's ×bare above the floor's is the extension's own cost."
echo
echo "- receiver load at the fastest export: $(commas "$PEAK_RPS") req/s, $PEAK_MBS MB/s ($(calc '%.0f' "$PEAK_RPS / $CEIL_RPS * 100")% of its request ceiling at ${CEIL_BODY}-byte bodies)"
if ((${#MISMATCH[@]})); then
  echo "- receiver counters DISAGREE with prometheus_sink_stats:"; printf '  - %s\n' "${MISMATCH[@]}"
else
  echo "- receiver counters (requests, bytes) agree with prometheus_sink_stats for every export run"
fi
echo "- decode check (null_receiver --decode, N=$(commas "${SIZES[0]}"), batch ${BATCHES[0]}): $(printf '%s; ' "${DECODE_NOTES[@]}" | sed 's/; $//')"
echo "- VictoriaMetrics 1.79 end to end: $VM_NOTE"

if ((INSTR_N)); then
  echo
  echo "### Instructions per row (valgrind callgrind, N=$(commas "$INSTR_N"), marginal: (I(N) − I(1)) / (N − 1))"
  echo
  if [ -n "$INSTR_NOTE" ]; then
    echo "not measured: $INSTR_NOTE"
  else
    echo "| form | run | instructions/row, all threads | ×bare | SQL thread only | ×bare |"
    echo "|---|---|---:|---:|---:|---:|"
    for form in "${FORMS[@]}"; do
      base_ipr=$(calc '%.0f' "(${INSTR[$form,bare,$INSTR_N]} - ${INSTR[$form,bare,1]}) / ($INSTR_N - 1)")
      for b in bare floor "${BATCHES[@]}"; do
        ipr=$(calc '%.0f' "(${INSTR[$form,$b,$INSTR_N]} - ${INSTR[$form,$b,1]}) / ($INSTR_N - 1)")
        spr=$(calc '%.0f' "(${INSTR_SQL[$form,$b,$INSTR_N]} - ${INSTR_SQL[$form,$b,1]}) / ($INSTR_N - 1)")
        echo "| $form | $(run_label "$b") | $(commas "$ipr") | $(calc '%.2f' "$ipr / $base_ipr") | $(commas "$spr") | $(calc '%.2f' "$spr / $base_ipr") |"
      done
    done
    echo
    echo "All threads: the sqlite3 process; SQL thread only: the thread that runs the INSERT (the sender threads encode,"
    echo "compress and post beside it, on the other core). The bare source and the floor run on one thread."
  fi
fi

# ---------------------------------------------------------------- targets

echo
echo "### Targets (reported, never enforced; marked on the wall-time figures)"
echo
echo "| target | case | measured | |"
echo "|---|---|---:|---|"
NMIN=$(minof "${SIZES[@]}"); NMAX=$(maxof "${SIZES[@]}")
# target_limit FORM BATCH: the export/bare target, empty when none was set.
target_limit() {
  case $1 in
    narrow|wide) if [ "$2" -ge 10000 ]; then echo 1.5; else echo 2.0; fi ;;
    card-json|card-wide|card-int) [ "$2" -ge 10000 ] && echo 2.0 ;;
    labels12) [ "$2" -ge 10000 ] && echo 2.5 ;;
  esac
  return 0
}
for form in "${FORMS[@]}"; do
  for b in "${BATCHES[@]}"; do
    limit=$(target_limit "$form" "$b")
    [ -z "$limit" ] && continue
    for n in "${SIZES[@]}"; do
      r=${RATIO[$form,$n,$b]:-}
      [ -n "$r" ] && echo "| export/bare ≤ $limit at batch $b | $form, N=$(commas "$n") | $r (CPU time: ${CRATIO[$form,$n,$b]:-?}) | $(mark "$r <= $limit") |"
    done
  done
done
for b in "${BATCHES[@]}"; do
  for n in "${SIZES[@]}"; do
    rss=${MRSS[labels12,$n,$b]:-}
    [ -n "$rss" ] && echo "| peak RSS ≤ 80 MB | labels12 export, N=$(commas "$n"), batch $b | $(calc '%.1f' "$rss / 1024") MB | $(mark "$rss <= 80 * 1024") |"
  done
done
if [ "$NMIN" != "$NMAX" ]; then
  for form in "${FORMS[@]}"; do
    for b in "${BATCHES[@]}"; do
      lo=${MRSS[$form,$NMIN,$b]:-} hi=${MRSS[$form,$NMAX,$b]:-}
      [ -n "$lo" ] && [ -n "$hi" ] && echo "| peak RSS at N=$(commas "$NMAX") ≤ 1.25 × at N=$(commas "$NMIN") | $form export, batch $b | $(calc '%.1f' "$hi / 1024") / $(calc '%.1f' "$lo / 1024") MB = $(calc '%.2f' "$hi / $lo")× | $(mark "$hi <= 1.25 * $lo") |"
    done
  done
fi
for form in "${FORMS[@]}"; do
  case $form in narrow|wide) ;; *) continue ;; esac  # baseline_encode knows the 700-series source only
  for b in "${BATCHES[@]}"; do
    for n in "${SIZES[@]}"; do
      v=${BPS[$form,$n,$b]:-}
      [ -z "$v" ] && continue
      sent=${BYTES[$form,$n,$b]} base=${BASE_BYTES[$n,$b]}
      same=""; [ "$sent" = "$base" ] && same=" (identical byte count)"
      echo "| bytes/sample ≤ baseline | $form, N=$(commas "$n"), batch $b | $v vs $(calc '%.3f' "${BASE[$n,$b]}")$same | $(mark "$sent <= $base") |"
    done
  done
done
exit "$ANY_ERR"
