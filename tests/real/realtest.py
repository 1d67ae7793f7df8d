"""Shared helpers for the real-receiver tests (python3 standard library only).

Every test runs as `python3 test_X.py EXT_PATH REPO_ROOT`: EXT_PATH is the built
prometheus_sink.so, REPO_ROOT holds scripts/prometheus.sh and scripts/victoria.sh.
A test starts its own server in its own temporary directory through those
scripts, drives the stock `sqlite3` shell, reads the samples back over the
server's HTTP API and compares them with what it exported. It exits 0 when
every check passed, and 1 on any mismatch (the first few are printed) or
when a server binary or the sqlite3 shell is missing.
"""

import contextlib
import decimal
import json
import math
import os
import re
import shutil
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

SQLITE3 = shutil.which("sqlite3") or "/usr/bin/sqlite3"

# Three native histograms (integer and float, schemas -2, 0 and 3, zero and
# negative buckets) that the histogram suites write and read back.
NATIVE_HISTOGRAMS = {
    "a": {"schema": -2, "count": 20, "sum": 123.25, "zero_threshold": 0.001, "zero_count": 3,
          "positive": {"-1": 1, "0": 2, "4": 5, "5": 1}, "negative": {"2": 4, "9": 1}, "reset": "yes"},
    "b": {"schema": 0, "sum": -0.5, "zero_count": 0.5,
          "positive": {"-3": 1.25, "1": 2.5}, "negative": {"0": 0.75, "3": 1e-3}},
    "c": {"schema": 3, "count": 12, "sum": 0.7, "positive": {"-8": 1, "-7": 2, "0": 3, "40": 4},
          "negative": {"-2": 1}, "zero_count": 1},
}

SERVER_BIN = {"prometheus": "/usr/bin/prometheus", "victoria": "/usr/bin/victoria-metrics"}


def _terminate(signum, _frame):
    # meson kills a test that times out with SIGTERM: turn it into an exception
    # so that `finally` blocks stop the servers.
    raise SystemExit(f"killed by signal {signum}")


signal.signal(signal.SIGTERM, _terminate)


class Checks:
    """Counts checks, remembers mismatches, prints a verdict."""

    def __init__(self, name):
        self.name = name
        self.passed = 0
        self.mismatches = []

    def check(self, ok, what):
        if ok:
            self.passed += 1
        else:
            self.mismatches.append(what)
        return ok

    def note(self, text):
        print(f"[{self.name}] {text}", flush=True)

    def finish(self, shown=10):
        if self.mismatches:
            print(f"[{self.name}] FAIL: {len(self.mismatches)} mismatch(es), "
                  f"{self.passed} check(s) passed; first {min(shown, len(self.mismatches))}:")
            for m in self.mismatches[:shown]:
                print(f"  - {m}")
            return 1
        print(f"[{self.name}] OK: {self.passed} check(s) passed")
        return 0


def parse_args():
    """Returns (ext_path, repo_root); fails when a prerequisite is missing."""
    if len(sys.argv) != 3:
        sys.exit(f"usage: {sys.argv[0]} EXT_PATH REPO_ROOT")
    ext, root = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    if not os.path.exists(ext):
        sys.exit(f"extension not built: {ext}")
    if not os.access(SQLITE3, os.X_OK):
        print("FAIL: no sqlite3 shell (run scripts/deps.sh)")
        sys.exit(1)
    return ext, root


def run_test(body, servers=()):
    """Runs body(ext, root) -> exit code, failing when a needed server binary is absent."""
    ext, root = parse_args()
    for kind in servers:
        if not os.access(SERVER_BIN[kind], os.X_OK):
            print(f"FAIL: {SERVER_BIN[kind]} not installed (run scripts/deps.sh)")
            sys.exit(1)
    sys.exit(body(ext, root))


def tail(path, lines=25):
    """The last `lines` lines of a text file, or a note that it cannot be read."""
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError as e:
        return f"({path}: {e.strerror})"


@contextlib.contextmanager
def server(kind, root, options=()):
    """Starts scripts/<kind>.sh in a fresh temp dir (with `options` after the dir, e.g.
    ["--native-histograms"]); yields its base URL; always stops it."""
    script = os.path.join(root, "scripts", f"{kind}.sh")
    tmp = tempfile.mkdtemp(prefix=f"psink-real-{kind}-")
    try:
        try:
            proc = subprocess.run([script, "start", tmp, *options], capture_output=True, text=True, timeout=120)
        except subprocess.TimeoutExpired as e:
            # Say what the script and the server were doing: the script's own
            # deadline (60 s) should have stopped it first.
            err = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or "")
            raise RuntimeError(f"{kind}.sh start did not finish in 120 s; its stderr:\n{err}\n"
                               f"last lines of the server log:\n{tail(os.path.join(tmp, 'server.log'))}")
        if proc.returncode != 0:
            raise RuntimeError(f"{kind}.sh start failed (exit {proc.returncode}):\n{proc.stderr}")
        url = proc.stdout.strip().splitlines()[-1]
        assert url.startswith("http://127.0.0.1:"), url
        print(f"[{kind}] started at {url} (pid {open(os.path.join(tmp, 'pid')).read().strip()})",
              flush=True)
        yield url
    finally:
        subprocess.run([script, "stop", tmp], timeout=60)
        shutil.rmtree(tmp, ignore_errors=True)


class RestartableVictoria:
    """A VictoriaMetrics that can be stopped and started again on the same port and
    data folder (scripts/victoria.sh with VICTORIA_PORT): a receiver that restarts."""

    def __init__(self, root, prefix="psink-real-vm-"):
        self.script = os.path.join(root, "scripts", "victoria.sh")
        self.dir = tempfile.mkdtemp(prefix=prefix)
        self.port = None

    def start(self):
        env = dict(os.environ)
        if self.port is not None:
            env["VICTORIA_PORT"] = str(self.port)
        proc = subprocess.run([self.script, "start", self.dir], capture_output=True, text=True,
                              timeout=120, env=env)
        if proc.returncode != 0:
            raise RuntimeError(f"victoria.sh start failed (exit {proc.returncode}):\n{proc.stderr}")
        url = proc.stdout.strip().splitlines()[-1]
        port = int(url.rsplit(":", 1)[1])
        if self.port is not None and port != self.port:
            raise RuntimeError(f"restarted on port {port}, wanted {self.port}")
        self.port = port
        print(f"[victoria] started at {url} (pid {open(os.path.join(self.dir, 'pid')).read().strip()})",
              flush=True)
        return url

    def stop(self):
        subprocess.run([self.script, "stop", self.dir], timeout=60)

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def free_port():
    """A loopback port with nothing listening on it (right now)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def q(text):
    """SQL string literal."""
    return "'" + str(text).replace("'", "''") + "'"


def run_sql(script, db=":memory:", bail=True, timeout=240):
    """Feeds script to the sqlite3 shell; returns the CompletedProcess (text mode)."""
    args = [SQLITE3, "-batch"] + (["-bail"] if bail else []) + [db]
    return subprocess.run(args, input=script, capture_output=True, text=True, timeout=timeout)


SHELL_ERROR = re.compile(r"^(?:Runtime error|Parse error|Error:?)(?: near line (\d+))?: (.*)$")


def shell_errors(stderr):
    """[(line_number or None, message)] for each error the sqlite3 shell printed
    ('Runtime error near line N: message', 'Parse error near line N: ...')."""
    out = []
    for line in stderr.splitlines():
        m = SHELL_ERROR.match(line)
        if m:
            out.append((int(m.group(1)) if m.group(1) else None, m.group(2)))
    return out


def has_stats(ext):
    """Whether the extension registers the prometheus_sink_stats table (a later
    feature of the contract): tests check the stats only when it is there."""
    proc = run_sql(f".load {ext}\nSELECT count(*) FROM pragma_module_list "
                   "WHERE name = 'prometheus_sink_stats';\n")
    return proc.returncode == 0 and proc.stdout.strip() == "1"


def make_table_db(path, create, rows):
    """Creates an ordinary table through Python's sqlite3 module, so that REAL
    values are stored bit-exactly (no SQL-text round trip)."""
    con = sqlite3.connect(path)
    try:
        con.execute(create)
        if rows:
            marks = ",".join("?" * len(rows[0]))
            name = create.split("(")[0].split()[-1]
            con.executemany(f"INSERT INTO {name} VALUES ({marks})", rows)
        con.commit()
    finally:
        con.close()


def http_get(base, path, params=None, timeout=30):
    url = base + path + ("?" + urllib.parse.urlencode(params, doseq=True) if params else "")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.read().decode()
    except urllib.error.HTTPError as e:
        raise RuntimeError(f"GET {url}: HTTP {e.code}: {e.read()[:500]!r}") from None


def prom_query(base, query, at):
    """Prometheus instant query; returns data.result. Timestamps are parsed as
    Decimal so that seconds.millis convert to exact integers."""
    body = http_get(base, "/api/v1/query", {"query": query, "time": f"{at:.3f}"})
    doc = json.loads(body, parse_float=decimal.Decimal)
    if doc.get("status") != "success":
        raise RuntimeError(f"query {query!r} failed: {body[:500]}")
    return doc["data"]["result"]


def prom_raw_samples(base, query, at):
    """Runs a range-selector query (raw samples); returns {labels_tuple: [(ts_ms, value_text)]}."""
    out = {}
    for series in prom_query(base, query, at):
        key = labels_key(series["metric"])
        out[key] = [(int(ts * 1000), v) for ts, v in series["values"]]
    return out


def vm_export(base, name, timeout=120):
    """{(series label, ts_ms): [values as floats]} of every raw sample VictoriaMetrics
    holds for metric `name`, after /internal/force_flush (duplicates kept)."""
    http_get(base, "/internal/force_flush")
    text = http_get(base, "/api/v1/export", {"match[]": f'{{__name__="{name}"}}'}, timeout=timeout)
    out = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        doc = json.loads(line)
        series = doc["metric"].get("series")
        for ts, v in zip(doc["timestamps"], doc["values"]):
            out.setdefault((series, ts), []).append(float(v))
    return out


def labels_key(labels):
    return tuple(sorted(labels.items()))


def fmt_key(key):
    return "{" + ", ".join(f'{k}="{v}"' for k, v in key) + "}"


def bits(x):
    return struct.pack("<d", x).hex()


def same_double(a, b):
    """Bit-exact equality, except that any NaN equals any NaN (a receiver does
    not return NaN payload bits)."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return struct.pack("<d", a) == struct.pack("<d", b)


def now_ms():
    return int(time.time() * 1000)


# ------------------------------------------------------------ native histograms

DEFAULT_ZERO_THRESHOLD = 2.938735877055719e-39  # 2^-128


def _bounds_table():
    """client_golang's (and Prometheus's) bucket-boundary fractions per schema,
    read from the copy in tests/unit/golden/gen_keys.go."""
    here = os.path.dirname(os.path.abspath(__file__))
    text = open(os.path.join(here, "..", "unit", "golden", "gen_keys.go")).read()
    body = text[text.index("var nativeHistogramBounds"):]
    body = body[:body.index("\n}\n")]
    tables = {}
    for part in re.split(r"// Schema (\d+):", body)[1:]:
        if part.strip().isdigit():
            schema = int(part)
            continue
        tables[schema] = [float(x) for x in re.findall(r"\d+\.\d+(?:e-?\d+)?", part)]
    return tables


_BOUNDS = None


def bucket_bound(index, schema):
    """Upper bound of bucket `index` in `schema`, as Prometheus's getBound
    (model/histogram/generic.go) computes it."""
    global _BOUNDS
    if _BOUNDS is None:
        _BOUNDS = _bounds_table()
    if schema < 0:
        exp = index << -schema
        if exp == 1024:
            return sys.float_info.max
        return math.ldexp(1.0, exp)
    frac = _BOUNDS[schema][index & ((1 << schema) - 1)]
    exp = (index >> schema) + 1
    if frac == 0.5 and exp == 1025:
        return sys.float_info.max
    return math.ldexp(frac, exp)


def histogram_buckets(h):
    """The buckets of histogram JSON `h` as Prometheus 2.42's API lists them
    (AllBucketIterator, empty buckets left out): [(boundaries, lower, upper,
    count)], negative buckets from the lowest, the zero bucket, positive ones."""
    schema = h["schema"]
    zt = h.get("zero_threshold", DEFAULT_ZERO_THRESHOLD)
    out = []
    neg = {int(k): float(v) for k, v in (h.get("negative") or {}).items()}
    pos = {int(k): float(v) for k, v in (h.get("positive") or {}).items()}
    for i in sorted(neg, reverse=True):
        upper = -bucket_bound(i - 1, schema)
        if upper > -zt:
            upper = -zt
        if neg[i]:
            out.append((1, -bucket_bound(i, schema), upper, neg[i]))
    if float(h.get("zero_count", 0)) > 0:
        out.append((3, -zt, zt, float(h["zero_count"])))
    for i in sorted(pos):
        lower = bucket_bound(i - 1, schema)
        if lower < zt:
            lower = zt
        if pos[i]:
            out.append((0, lower, bucket_bound(i, schema), pos[i]))
    return out


def histogram_quantile(q, h):
    """histogram_quantile(q, h) as Prometheus 2.42 computes it for a native
    histogram (promql/quantile.go histogramQuantile: linear interpolation in
    the bucket where the rank falls), for histogram JSON `h`."""
    count = float(h["count"])
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    if count == 0 or math.isnan(q):
        return math.nan
    buckets = []  # every bucket of the spans, empty ones included, in iteration order
    schema = h["schema"]
    zt = h.get("zero_threshold", DEFAULT_ZERO_THRESHOLD)
    neg = {int(k): float(v) for k, v in (h.get("negative") or {}).items()}
    pos = {int(k): float(v) for k, v in (h.get("positive") or {}).items()}
    for i in sorted(neg, reverse=True):
        upper = -bucket_bound(i - 1, schema)
        buckets.append([-bucket_bound(i, schema), -zt if upper > -zt else upper, neg[i]])
    if float(h.get("zero_count", 0)) > 0:
        buckets.append([-zt, zt, float(h["zero_count"])])
    for i in sorted(pos):
        lower = bucket_bound(i - 1, schema)
        buckets.append([zt if lower < zt else lower, bucket_bound(i, schema), pos[i]])
    rank = q * count
    seen = 0.0
    bucket = None
    for b in buckets:
        bucket = b
        seen += b[2]
        if seen >= rank:
            break
    lower, upper, n = bucket
    if lower < 0 < upper:
        if not neg and pos:
            lower = 0.0
        elif not pos and neg:
            upper = 0.0
    if seen > count:
        seen = count
    if seen < rank:
        return upper
    rank -= seen - n
    return lower + (upper - lower) * (rank / n)
