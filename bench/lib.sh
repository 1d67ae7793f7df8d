# Helpers shared by bench/run.sh and bench/latency.sh (sourced, not run):
# building, the work folder, starting null receivers, timing a process, and
# the source queries of an export. One way to start receivers and time runs.
#
# The caller sets ROOT (the repository), BUILD (the build folder) and
# USE_CTE (1: a recursive CTE instead of generate_series), and may set
# BENCH_SCRIPT (how messages name it). bench_workdir sets WORK and MOD;
# run_timed reads RX_PID (the receiver whose CPU time is not "other load")
# and RUN_TIMEOUT (seconds, empty: none).
# shellcheck shell=bash
# shellcheck disable=SC2034  # the helpers' results are variables the caller reads

BENCH_SCRIPT=${BENCH_SCRIPT:-bench/$(basename "$0")}
RUN_TIMEOUT=${RUN_TIMEOUT:-}
RX_PID=${RX_PID:-}

log() { echo "bench: $*" >&2; }
die() { echo "$BENCH_SCRIPT: $*" >&2; exit 1; }

# require_tools: what every benchmark run needs.
require_tools() {
  command -v sqlite3 >/dev/null || die "sqlite3 not found (apt-get install sqlite3)"
  [ -x /usr/bin/time ] || die "/usr/bin/time not found (apt-get install time)"
  command -v curl >/dev/null || die "curl not found (apt-get install curl)"
}

# bench_build TARGET…: sets up $BUILD if needed and builds only these targets
# (a broken test elsewhere does not stop a benchmark); checks they exist.
bench_build() {
  if ((DO_BUILD)); then
    [ -f "$BUILD/build.ninja" ] || meson setup "$BUILD" "$ROOT" >&2
    log "building ($BUILD)"
    ninja -C "$BUILD" "$@" >&2 || die "build failed"
  fi
  local f
  for f in "$@"; do
    [ -e "$BUILD/$f" ] || die "$BUILD/$f missing (build first: ninja -C $BUILD)"
  done
}

# bench_workdir: makes WORK (a fresh temporary folder) and copies the module
# under test into it as $MOD.so, so that a rebuild during the run cannot swap it.
bench_workdir() {
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/psink-bench.XXXXXX")
  MOD=$WORK/prometheus_sink
  cp "$BUILD/prometheus_sink.so" "$MOD.so"
}

HZ=$(getconf CLK_TCK)

# ---------------------------------------------------------------- numbers

commas() { sed ':a;s/\B[0-9]\{3\}\>/,&/;ta' <<< "$1"; }
calc() { awk "BEGIN { printf \"$1\", ($2) }"; }
# median / maxof / minof: of numbers given as arguments and/or space-separated lists.
nums() { echo "$*" | tr -s ' ' '\n' | sed '/^$/d' | sort -g; }
median() { nums "$@" | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
maxof() { nums "$@" | tail -n 1; }
minof() { nums "$@" | head -n 1; }
# mark CONDITION: "met" or "**not met**" (an awk expression).
mark() { if awk "BEGIN { exit !($1) }"; then echo met; else echo "**not met**"; fi; }

# ---------------------------------------------------------------- receivers

# Starts a null receiver (extra args passed on); sets STARTED_PID and STARTED_PORT.
start_receiver() {
  local out=$1; shift
  "$BUILD/bench/null_receiver" "$@" > "$out" 2>&1 &
  STARTED_PID=$!
  for _ in $(seq 1 100); do
    # (the file may not exist yet: the shell forked and has not opened it)
    STARTED_PORT=$(awk '/^PORT /{ print $2 }' "$out" 2>/dev/null || true)
    [ -n "$STARTED_PORT" ] && return 0
    sleep 0.05
  done
  die "null_receiver did not print its port: $(cat "$out")"
}

# stop_pid PID: SIGTERM to one process this script started, and wait for it.
stop_pid() {
  [ -n "$1" ] || return 0
  kill -TERM "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# "requests bytes samples" of a null receiver.
receiver_stats() {
  curl -fsS "http://127.0.0.1:$1/stats" |
    sed -E 's/.*"requests":([0-9]+),"bytes":([0-9]+),"samples":([0-9]+).*/\1 \2 \3/'
}

# ---------------------------------------------------------------- timing

busy_jiffies() { awk '/^cpu /{ print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
proc_jiffies() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }

# run_timed INPUT CMD…: runs CMD with INPUT on stdin. Sets RUN_OK, RUN_WALL
# (s), RUN_RSS (KB), RUN_CPU (user+sys s), RUN_OTHERS (average cores used
# meanwhile by processes other than CMD and the receiver RX_PID), RUN_OUT
# (stdout) and RUN_ERR (stderr). With RUN_TIMEOUT set, CMD is killed after
# that many seconds (and fails).
run_timed() {
  local input=$1; shift
  local b0 b1 r0 r1 t0 t1 u s
  local limiter=()
  [ -n "$RUN_TIMEOUT" ] && limiter=(timeout "$RUN_TIMEOUT")
  b0=$(busy_jiffies); r0=$(proc_jiffies "$RX_PID")
  t0=$(date +%s.%N)
  if /usr/bin/time -f '%M %U %S' -o "$WORK/time.txt" \
       "${limiter[@]}" "$@" < "$input" > "$WORK/out.txt" 2> "$WORK/err.txt"; then
    RUN_OK=1
  else
    RUN_OK=0
  fi
  t1=$(date +%s.%N)
  b1=$(busy_jiffies); r1=$(proc_jiffies "$RX_PID")
  read -r RUN_RSS u s < <(tail -n 1 "$WORK/time.txt")
  RUN_WALL=$(calc '%.3f' "$t1 - $t0")
  RUN_CPU=$(calc '%.2f' "$u + $s")
  RUN_OTHERS=$(calc '%.2f' "(($b1 - $b0) - ($r1 - $r0)) / $HZ > $RUN_CPU ? ((($b1 - $b0) - ($r1 - $r0)) / $HZ - $RUN_CPU) / $RUN_WALL : 0")
  RUN_OUT=$(cat "$WORK/out.txt")
  RUN_ERR=$(head -c 600 "$WORK/err.txt" | tr '\n' ' ')
}

# run_sql FILE: runs FILE through a fresh `sqlite3 :memory:` (see run_timed).
run_sql() { run_timed "$1" sqlite3 -batch -bail :memory:; }

# ---------------------------------------------------------------- source queries

# check_generate_series: falls back to a recursive CTE (USE_CTE=1) when this
# sqlite3 has no generate_series; sets SOURCE_NOTE.
check_generate_series() {
  if ((!USE_CTE)) && [ "$(sqlite3 :memory: 'select count(*) from generate_series(1,10)' 2>/dev/null)" != 10 ]; then
    log "generate_series is not available in this sqlite3: using a recursive CTE"
    USE_CTE=1
  fi
  SOURCE_NOTE="generate_series(1,N) (built into the sqlite3 shell)"
  ((USE_CTE)) && SOURCE_NOTE="a recursive CTE (WITH RECURSIVE gs(value) …) instead of generate_series"
  return 0
}

# from_clause N / with_prefix N: where the rows come from.
from_clause() { if ((USE_CTE)); then echo "gs"; else echo "generate_series(1,$1)"; fi; }
with_prefix() {
  if ((USE_CTE)); then
    echo "WITH RECURSIVE gs(value) AS (SELECT 1 UNION ALL SELECT value+1 FROM gs WHERE value < $1) "
  fi
}
# The bench's sources, one per form:
#   narrow     700 series (100 hosts × 7 regions) as JSON labels, one sample per row
#   wide       the same series as label columns (metric='bench_metric', host, region)
#   card-json  every row a new series: JSON {__name__:'card', id:'i<value>', region:'r<value%7>'}
#   card-wide  the same as label columns (metric='card', id, region)
#   card-int   card-json with an INTEGER id: JSON {__name__:'card', id:<value>, region:'r<value%7>'}
#              (json_object writes the id as a JSON number)
#   labels12   100,000 series of 12 Kubernetes-like labels (cluster, namespace, pod, container,
#              job, instance, node, service, endpoint, region, zone), JSON
FORMS_ALL=(narrow wide card-json card-wide card-int labels12)
NARROW_COLS="json_object('__name__','bench_metric','host','h'||(value%100),'region','r'||(value%7)) AS labels, value*1.0 AS value, 1700000000000+(value/100)*1000 AS ts"
WIDE_COLS="'h'||(value%100), 'r'||(value%7), value*1.0, 1700000000000+(value/100)*1000"
CARD_JSON_COLS="json_object('__name__','card','id','i'||value,'region','r'||(value%7)) AS labels, value*1.0 AS value, 1700000000000+value AS ts"
CARD_WIDE_COLS="'i'||value, 'r'||(value%7), value*1.0, 1700000000000+value"
CARD_INT_COLS="json_object('__name__','card','id',value,'region','r'||(value%7)) AS labels, value*1.0 AS value, 1700000000000+value AS ts"
K=(value%100000)
LABELS12_COLS="json_object('__name__','k8s_metric','cluster','c'||($K%3),'namespace','ns'||($K%50),'pod','pod-'||$K,'container','ctr'||($K%10),'job','job'||($K%20),'instance','10.0.'||($K%256)||'.'||($K%100)||':9100','node','node'||($K%500),'service','svc'||($K%40),'endpoint','http-metrics','region','eu-west-1','zone','eu-west-1'||char(97+$K%3)) AS labels, value*1.0 AS value, 1700000000000+value AS ts"
unset K

# form_cols FORM: the source's columns. form_labels FORM: the label columns of
# a wide form (empty for a JSON form). form_metric FORM: its metric option.
form_cols() {
  case $1 in
    narrow) echo "$NARROW_COLS" ;; wide) echo "$WIDE_COLS" ;;
    card-json) echo "$CARD_JSON_COLS" ;; card-wide) echo "$CARD_WIDE_COLS" ;; card-int) echo "$CARD_INT_COLS" ;;
    labels12) echo "$LABELS12_COLS" ;;
    *) die "unknown form '$1'" ;;
  esac
}
form_labels() { case $1 in wide) echo "host, region" ;; card-wide) echo "id, region" ;; *) echo "" ;; esac; }
form_metric() { case $1 in wide) echo bench_metric ;; card-wide) echo card ;; *) echo "" ;; esac; }

bare_sql() {  # bare_sql FORM N
  echo "$(with_prefix "$2")SELECT count(*) FROM (SELECT $(form_cols "$1") FROM $(from_clause "$2") LIMIT -1);"
}
# insert_sql FORM N: the INSERT of an export, and of the floor run,
# into a table named sink.
insert_sql() {
  local labels; labels=$(form_labels "$1")
  if [ -z "$labels" ]; then
    echo "$(with_prefix "$2")INSERT INTO sink SELECT $(form_cols "$1") FROM $(from_clause "$2");"
  else
    echo "$(with_prefix "$2")INSERT INTO sink($labels, value, timestamp) SELECT $(form_cols "$1") FROM $(from_clause "$2");"
  fi
}
# export_sql FORM N BATCH URL [OPTIONS]: OPTIONS (e.g. "max_in_flight=4")
# are added to the sink's CREATE VIRTUAL TABLE. Prints the sink's stats last.
export_sql() {
  local extra=${5:+, $5} labels; labels=$(form_labels "$1")
  echo ".load $MOD"
  if [ -z "$labels" ]; then
    echo "CREATE VIRTUAL TABLE temp.sink USING prometheus_sink(url='$4', batch_size=$3$extra);"
  else
    echo "CREATE VIRTUAL TABLE temp.sink USING prometheus_sink(url='$4', metric='$(form_metric "$1")', $labels, batch_size=$3$extra);"
  fi
  insert_sql "$1" "$2"
  echo "SELECT bytes_sent, samples_sent, requests FROM prometheus_sink_stats;"
}

# ---------------------------------------------------------------- the machine

# describe_machine: sets CPU_MODEL, MEM_GIB, MOD_VERSION (of $MOD) and
# GIT_REV (noting uncommitted changes under src/).
describe_machine() {
  CPU_MODEL=$(awk -F': ' '/^model name/{ print $2; exit }' /proc/cpuinfo)
  MEM_GIB=$(awk '/^MemTotal/{ printf "%.1f", $2 / 1048576 }' /proc/meminfo)
  MOD_VERSION=$(sqlite3 :memory: ".load $MOD" "select prometheus_sink_version()" 2>/dev/null || echo "?")
  if GIT_REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null); then
    git -C "$ROOT" diff --quiet HEAD -- src || GIT_REV+=" + uncommitted src/ changes"
  else
    GIT_REV="none: not a git checkout"
  fi
}
