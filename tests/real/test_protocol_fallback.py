"""Remote-write 2.0 falling back to 1.0 against real receivers that speak only
1.0: Prometheus 2.42 and VictoriaMetrics 1.79. Both read a 2.0 body as a 1.0
WriteRequest without series (its fields 4 and 5 are unknown to them), store
nothing and answer 204 without the X-Prometheus-Remote-Write-*-Written
headers. A sink with protocol='2.0' must notice that on its first request,
send the same samples again as 1.0, and speak 1.0 from then on.

For each server: 300 rows (6 series x 50 samples over the last hour, values
REAL, INTEGER and TEXT) exported with `INSERT INTO sink SELECT ... FROM
readings ORDER BY ts` through the sqlite3 shell with protocol='2.0',
metric_type='gauge', metric_help='...', batch_size=100 (so the fallback
happens at the first full batch, mid-INSERT), then 20 more rows in a second
transaction of the same connection. Every sample is read back: Prometheus
with a range selector, compared bit for bit; VictoriaMetrics with
/internal/force_flush and /api/v1/export, timestamps exact and values to
relative 1e-11 (its decimal storage). prometheus_sink_stats must show the
fallback in the protocol column, samples_sent equal to the rows, no failure,
and exactly one request more than the 1.0 batches (the refused 2.0 one).
"""

import json
import math
import os
import random
import re
import shutil
import tempfile
import time

import realtest as rt

NAME = "psink_real_fallback"
SERIES, PER_SERIES, BATCH, LATER = 6, 50, 100, 20
FELL_BACK = "1.0 (2.0 refused by the receiver)"
VM_REL_TOL = 1e-11
STATS_COLUMNS = "protocol, samples_sent, requests - retries, failures, rows_buffered, samples_not_written"


def make_rows(t0):
    """(series, ts, value) rows: each series keeps one magnitude (VictoriaMetrics
    stores a block of samples with one decimal exponent)."""
    rnd = random.Random(2002)
    rows = []
    for s in range(SERIES):
        for i in range(PER_SERIES):
            ts = t0 + i * 60_000 + (s * 11 + i * 5) % 1000          # odd milliseconds
            if s % 3 == 0:
                v = round(rnd.uniform(-1000, 1000), 6)               # REAL
            elif s % 3 == 1:
                v = rnd.randint(-10**9, 10**9)                       # INTEGER
            else:
                v = repr(rnd.uniform(0, 1) * 100)                    # TEXT number
            rows.append((f"s{s}", ts, v))
    rnd.shuffle(rows)
    return rows


def later_rows(t0):
    """LATER rows after the export, for the second transaction."""
    return [(f"s{i % SERIES}", t0 + PER_SERIES * 60_000 + i * 1000 + 7, i * 0.25 - 2) for i in range(LATER)]


def expected_double(v):
    return float(v)


INF_TOKEN = re.compile(r"(?<=[\[,])([+-]?)Inf(?=[,\]])")


def vm_export(url):
    """{labels_key: [(ts, value)]} from VictoriaMetrics' /api/v1/export."""
    rt.http_get(url, "/internal/force_flush")
    text = rt.http_get(url, "/api/v1/export", {"match[]": f'{{__name__="{NAME}"}}'})
    got = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        line = INF_TOKEN.sub(lambda m: "-Infinity" if m.group(1) == "-" else "Infinity", line)
        doc = json.loads(line)
        got.setdefault(rt.labels_key(doc["metric"]), []).extend(zip(doc["timestamps"], doc["values"]))
    return {k: sorted(v) for k, v in got.items()}


def prom_export(url):
    got = rt.prom_raw_samples(url, f"{NAME}[3h]", time.time() + 1)
    return {k: [(ts, float(text)) for ts, text in v] for k, v in got.items()}


def same_value(kind, got, want):
    if kind == "prometheus":
        return rt.same_double(got, want)
    if math.isinf(want) or want == 0:
        return got == want
    return abs(got - want) <= VM_REL_TOL * abs(want)


def run_one(c, kind, ext, root, work):
    t0 = rt.now_ms() - 3600_000
    rows = make_rows(t0)
    more = later_rows(t0)
    expected = {}
    for series, ts, v in rows + more:
        key = rt.labels_key({"__name__": NAME, "series": series})
        expected.setdefault(key, {})[ts] = expected_double(v)

    db = os.path.join(work, f"{kind}.db")
    rt.make_table_db(db, "CREATE TABLE readings(series TEXT, ts INTEGER, v)", rows)
    rt.make_table_db(db, "CREATE TABLE later(series TEXT, ts INTEGER, v)", more)
    with rt.server(kind, root) as url:
        script = f"""
.load {ext}
CREATE VIRTUAL TABLE temp.sink USING prometheus_sink(url={rt.q(url + '/api/v1/write')}, batch_size={BATCH},
    max_in_flight=1, protocol='2.0', metric_type='gauge', metric_help='Readings exported from SQLite (fallback test).');
SELECT 'before', {STATS_COLUMNS} FROM prometheus_sink_stats;
INSERT INTO sink SELECT json_object('__name__', '{NAME}', 'series', series), v, ts FROM readings ORDER BY ts;
SELECT 'export', {STATS_COLUMNS} FROM prometheus_sink_stats;
BEGIN;
INSERT INTO sink SELECT json_object('__name__', '{NAME}', 'series', series), v, ts FROM later ORDER BY ts;
COMMIT;
SELECT 'later', {STATS_COLUMNS} FROM prometheus_sink_stats;
"""
        t_start = time.time()
        proc = rt.run_sql(script, db=db)
        c.note(f"[{kind}] sqlite3 exported {len(rows)} + {len(more)} rows in {time.time() - t_start:.2f}s "
               f"(exit {proc.returncode})")
        c.check(proc.returncode == 0, f"[{kind}] sqlite3 exited {proc.returncode}: {proc.stderr.strip()[:600]}")

        stats = {l.split("|", 1)[0]: l.split("|", 1)[1] for l in proc.stdout.splitlines() if "|" in l}
        batches = -(-len(rows) // BATCH)
        want_stats = {
            "before": "2.0|0|0|0|0|0",
            # The refused 2.0 request, then every batch as 1.0.
            "export": f"{FELL_BACK}|{len(rows)}|{1 + batches}|0|0|0",
            # The second transaction: one 1.0 request, no new 2.0 attempt.
            "later": f"{FELL_BACK}|{len(rows) + len(more)}|{2 + batches}|0|0|0",
        }
        for when, want in want_stats.items():
            c.check(stats.get(when) == want,
                    f"[{kind}] prometheus_sink_stats {when}: expected {want!r} "
                    f"(protocol|samples_sent|first attempts|failures|rows_buffered|samples_not_written), "
                    f"got {stats.get(when)!r}")
        c.note(f"[{kind}] stats: {stats}")

        got = prom_export(url) if kind == "prometheus" else vm_export(url)
        c.check(len(got) == len(expected), f"[{kind}] expected {len(expected)} series, the server has {len(got)}")
        for key in sorted(set(got) - set(expected)):
            c.check(False, f"[{kind}] unexpected series {rt.fmt_key(key)}")
        n = 0
        for key, want in sorted(expected.items()):
            have = got.get(key)
            if not c.check(have is not None, f"[{kind}] series {rt.fmt_key(key)} missing"):
                continue
            have_ts = [ts for ts, _ in have]
            c.check(have_ts == sorted(want),
                    f"[{kind}] {rt.fmt_key(key)}: timestamps differ: missing "
                    f"{sorted(set(want) - set(have_ts))[:5]}, extra {sorted(set(have_ts) - set(want))[:5]}, "
                    f"{len(have_ts)} returned vs {len(want)} sent")
            for ts, v in have:
                if ts in want:
                    n += 1
                    c.check(same_value(kind, float(v), want[ts]),
                            f"[{kind}] {rt.fmt_key(key)} @{ts}: sent {want[ts]!r} ({rt.bits(want[ts])}), "
                            f"got {v!r} ({rt.bits(float(v))})")
        c.note(f"[{kind}] compared {n} of {len(rows) + len(more)} samples of {len(got)} series "
               f"({'bit-exact' if kind == 'prometheus' else f'relative {VM_REL_TOL}'})")


def body(ext, root):
    c = rt.Checks("real_protocol_fallback")
    if not rt.has_stats(ext):
        c.check(False, "prometheus_sink_stats is not available")
    work = tempfile.mkdtemp(prefix="psink-real-fallback-")
    try:
        for kind in ("prometheus", "victoria"):
            run_one(c, kind, ext, root, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return c.finish()


if __name__ == "__main__":
    rt.run_test(body, servers=("prometheus", "victoria"))
