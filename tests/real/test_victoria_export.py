"""Real VictoriaMetrics 1.79: 3000 rows (30 series x 100 samples over the last
two hours) exported with `INSERT INTO sink SELECT ... FROM readings` through
the sqlite3 shell, batch_size=500, then /internal/force_flush and every sample
read back with /api/v1/export (JSON lines). Timestamps must match exactly;
values to VictoriaMetrics' ~12 significant digits (relative tolerance 1e-11),
Inf and -Inf exactly; NaN rows are skipped (VictoriaMetrics drops NaN).
Values within one series keep a similar magnitude, because VictoriaMetrics
stores a block of samples with one decimal exponent (a huge value in a series
zeroes its small ones); tiny (~1e-300) and huge (~1e300) values get series
of their own. Near 1e-300 VictoriaMetrics keeps only short decimal mantissas
(2.3011283642566e-300 comes back as 0, 123e-300 exactly), so the tiny series
uses values like 123e-300.
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

NAME = "psink_real_vm"
SERIES, PER_SERIES, BATCH = 30, 100, 500
SPECIAL = {"NaN": float("nan"), "Inf": float("inf"), "+Inf": float("inf"), "-Inf": float("-inf")}
AWKWARD = [0.1, -2.5, 123456789.123456789, "Inf", "-Inf", "NaN", "0.30000000000000004", 0, 42, -0.0]
REL_TOL = 1e-11
STATS_COLUMNS = "samples_sent, failures, rows_buffered"


def expected_double(v):
    if isinstance(v, str):
        return SPECIAL[v] if v in SPECIAL else float(v)
    return float(v)


def make_rows(t0):
    rnd = random.Random(1979)
    rows = []
    for s in range(SERIES):
        series = f"s{s:02d}"
        scale = 10.0 ** rnd.randint(-6, 9)
        for i in range(PER_SERIES):
            ts = t0 + i * 60_000 + (s * 17 + i * 3) % 1000
            if s == 0 and i < len(AWKWARD):
                v = AWKWARD[i]
            elif s == 1:
                v = float(f"{rnd.randint(1, 999)}e-300")        # tiny, short mantissas
            elif s == 2:
                v = 1e300 * rnd.uniform(-10, 10)                # huge, all alike
            elif s % 3 == 0:
                v = rnd.uniform(-1e6, 1e6)
            elif s % 3 == 1:
                v = rnd.randint(-10**11, 10**11)                 # INTEGER
            else:
                v = repr(rnd.uniform(0, 1) * scale)              # TEXT number
            rows.append((series, ts, v))
    rnd.shuffle(rows)
    return rows


INF_TOKEN = re.compile(r"(?<=[\[,])([+-]?)Inf(?=[,\]])")


def parse_export_line(line):
    """VictoriaMetrics writes +Inf/-Inf/NaN as bare words, which JSON lacks."""
    line = INF_TOKEN.sub(lambda m: "-Infinity" if m.group(1) == "-" else "Infinity", line)
    return json.loads(line)


def close_enough(got, want):
    if math.isinf(want) or want == 0:
        return got == want
    return abs(got - want) <= REL_TOL * abs(want)


def body(ext, root):
    c = rt.Checks("real_victoria_export")
    t0 = rt.now_ms() - 2 * 3600_000 + 5 * 60_000
    rows = make_rows(t0)
    expected, nan_rows = {}, 0
    for series, ts, v in rows:
        want = expected_double(v)
        if math.isnan(want):
            nan_rows += 1
            continue
        key = rt.labels_key({"__name__": NAME, "series": series})
        expected.setdefault(key, {})[ts] = want

    work = tempfile.mkdtemp(prefix="psink-real-vm-")
    db = os.path.join(work, "src.db")
    try:
        rt.make_table_db(db, "CREATE TABLE readings(series TEXT, ts INTEGER, v)", rows)
        with rt.server("victoria", root) as url:
            script = f"""
.load {ext}
CREATE VIRTUAL TABLE temp.sink USING prometheus_sink(url={rt.q(url + '/api/v1/write')}, batch_size={BATCH});
INSERT INTO sink SELECT json_object('__name__', '{NAME}', 'series', series), v, ts
  FROM readings ORDER BY ts;
"""
            with_stats = rt.has_stats(ext)
            if with_stats:
                script += ("SELECT 'stats', " + STATS_COLUMNS + " FROM prometheus_sink_stats;\n")
            else:
                c.note("prometheus_sink_stats is not available: stats not checked")
            t_start = time.time()
            proc = rt.run_sql(script, db=db)
            c.note(f"sqlite3 exported {len(rows)} rows in {time.time() - t_start:.2f}s "
                   f"(exit {proc.returncode})")
            c.check(proc.returncode == 0, f"sqlite3 exited {proc.returncode}: {proc.stderr.strip()[:600]}")
            if with_stats:
                stats = [l for l in proc.stdout.splitlines() if l.startswith("stats|")]
                want_stats = f"stats|{len(rows)}|0|0"
                c.check(stats == [want_stats], f"prometheus_sink_stats: expected [{want_stats!r}] "
                        f"(samples_sent|failures|rows_buffered), got {stats!r}")

            rt.http_get(url, "/internal/force_flush")
            body_text = rt.http_get(url, "/api/v1/export", {"match[]": f'{{__name__="{NAME}"}}'})
            got = {}
            for line in body_text.splitlines():
                if not line.strip():
                    continue
                doc = parse_export_line(line)
                key = rt.labels_key(doc["metric"])
                got.setdefault(key, []).extend(zip(doc["timestamps"], doc["values"]))
            c.check(len(got) == len(expected),
                    f"expected {len(expected)} series, VictoriaMetrics has {len(got)}")
            for key in sorted(set(got) - set(expected)):
                c.check(False, f"unexpected series {rt.fmt_key(key)}")
            n_samples = 0
            for key, want in sorted(expected.items()):
                have = sorted(got.get(key, []))
                if not c.check(have, f"series {rt.fmt_key(key)} missing"):
                    continue
                have_ts = [ts for ts, _ in have]
                c.check(have_ts == sorted(want),
                        f"{rt.fmt_key(key)}: timestamps differ: missing "
                        f"{sorted(set(want) - set(have_ts))[:5]}, extra {sorted(set(have_ts) - set(want))[:5]}"
                        f", {len(have_ts)} returned vs {len(want)} sent")
                for ts, v in have:
                    if ts in want:
                        n_samples += 1
                        c.check(close_enough(float(v), want[ts]),
                                f"{rt.fmt_key(key)} @{ts}: sent {want[ts]!r}, got {v!r}")
            c.note(f"compared {n_samples} samples of {len(got)} series (timestamps exact, values to "
                   f"relative {REL_TOL}); {nan_rows} NaN row(s) skipped")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return c.finish()


if __name__ == "__main__":
    rt.run_test(body, servers=("victoria",))
