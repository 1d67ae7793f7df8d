"""Real Prometheus 2.42: 3000 rows (30 series x 100 samples over the last two
hours) exported with `INSERT INTO sink SELECT ... FROM readings` through the
sqlite3 shell, batch_size=500, max_in_flight=1 (six requests), then every sample read back with
a range selector and compared exactly: the series' label sets, each
timestamp to the millisecond, each value bit for bit (Prometheus prints the
shortest round-trip text). Values arrive as REAL, INTEGER and TEXT, including
0.1, 1e-300, 5e-324, -0.0, DBL_MAX, 123456789.123456789, 2^53+1, Inf, -Inf, NaN.
"""

import os
import random
import shutil
import tempfile
import time

import realtest as rt

NAME = "psink_real_export"
SERIES, PER_SERIES, BATCH = 30, 100, 500
STATS_COLUMNS = "samples_sent, requests - retries, failures, rows_buffered"
SPECIAL = {"NaN": float("nan"), "Inf": float("inf"), "+Inf": float("inf"), "-Inf": float("-inf")}

# (stored value, expected double): awkward values at the start of series s00.
AWKWARD = [
    (0.1, 0.1),
    (1e-300, 1e-300),
    (-2.5, -2.5),
    (123456789.123456789, 123456789.123456789),
    ("Inf", float("inf")),
    ("-Inf", float("-inf")),
    ("NaN", float("nan")),
    ("+Inf", float("inf")),
    (5e-324, 5e-324),                          # smallest subnormal
    (1.7976931348623157e308, 1.7976931348623157e308),
    (-0.0, -0.0),
    (9007199254740993, 9007199254740992.0),    # INTEGER 2^53+1 -> nearest double
    (-9223372036854775808, -9.223372036854775808e18),
    ("0.30000000000000004", 0.30000000000000004),
    ("1e3", 1000.0),
    ("-2.5e-7", -2.5e-7),
    (0, 0.0),
    (42, 42.0),
]


def expected_double(v):
    if isinstance(v, str):
        return SPECIAL[v] if v in SPECIAL else float(v)
    return float(v)


def make_rows(t0):
    rnd = random.Random(20240815)
    rows = []
    for s in range(SERIES):
        series = f"s{s:02d}"
        room = 'kitchen "north" \\ ü ✓' if s == 3 else f"room{s % 7}"
        for i in range(PER_SERIES):
            ts = t0 + i * 60_000 + (s * 13 + i * 7) % 1000     # odd milliseconds
            if s == 0 and i < len(AWKWARD):
                v = AWKWARD[i][0]
            elif s % 4 == 0:
                v = rnd.uniform(-1e6, 1e6)
            elif s % 4 == 1:
                v = rnd.randint(-10**12, 10**12)                 # INTEGER
            elif s % 4 == 2:
                v = repr(rnd.lognormvariate(0, 5))               # TEXT number
            else:
                v = rnd.random() * 10 ** rnd.randint(-20, 20)
            rows.append((series, room, s, ts, v))
    rnd.shuffle(rows)            # the table's order is not the export's order
    return rows


def body(ext, root):
    c = rt.Checks("real_prometheus_export")
    t0 = rt.now_ms() - 2 * 3600_000 + 5 * 60_000
    rows = make_rows(t0)
    expected = {}
    for series, room, idx, ts, v in rows:
        key = rt.labels_key({"__name__": NAME, "series": series, "room": room, "idx": str(idx)})
        expected.setdefault(key, {})[ts] = expected_double(v)

    work = tempfile.mkdtemp(prefix="psink-real-export-")
    db = os.path.join(work, "src.db")
    try:
        rt.make_table_db(db, "CREATE TABLE readings(series TEXT, room TEXT, idx INTEGER, ts INTEGER, v)", rows)
        with rt.server("prometheus", root) as url:
            script = f"""
.load {ext}
CREATE VIRTUAL TABLE temp.sink USING prometheus_sink(url={rt.q(url + '/api/v1/write')}, batch_size={BATCH},
    max_in_flight=1);
INSERT INTO sink
  SELECT json_object('__name__', '{NAME}', 'series', series, 'room', room, 'idx', idx,
                     'gone', NULL, 'empty', ''), v, ts
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
            c.check(proc.returncode == 0,
                    f"sqlite3 exited {proc.returncode}: {proc.stderr.strip()[:600]}")
            if with_stats:
                stats = [l for l in proc.stdout.splitlines() if l.startswith("stats|")]
                want_stats = f"stats|{len(rows)}|{len(rows) // BATCH}|0|0"
                c.check(stats == [want_stats],
                        f"prometheus_sink_stats: expected [{want_stats!r}] "
                        f"(samples_sent|first attempts|failures|rows_buffered), got {stats!r}")
                c.note(f"stats row: {stats}")

            got = rt.prom_raw_samples(url, f"{NAME}[3h]", time.time() + 1)
            c.check(len(got) == len(expected),
                    f"expected {len(expected)} series, Prometheus has {len(got)}")
            for key in sorted(set(got) - set(expected)):
                c.check(False, f"unexpected series {rt.fmt_key(key)}")
            n_samples = 0
            for key, want in sorted(expected.items()):
                have = got.get(key)
                if not c.check(have is not None, f"series {rt.fmt_key(key)} missing"):
                    continue
                have_ts = [ts for ts, _ in have]
                c.check(have_ts == sorted(want),
                        f"{rt.fmt_key(key)}: timestamps differ: missing "
                        f"{sorted(set(want) - set(have_ts))[:5]}, extra {sorted(set(have_ts) - set(want))[:5]}"
                        f", {len(have_ts)} returned vs {len(want)} sent")
                for ts, text in have:
                    if ts not in want:
                        continue
                    n_samples += 1
                    v = float(text)
                    c.check(rt.same_double(v, want[ts]),
                            f"{rt.fmt_key(key)} @{ts}: sent {want[ts]!r} ({rt.bits(want[ts])}), "
                            f"got {text!r} ({rt.bits(v)})")
            c.note(f"compared {n_samples} samples of {len(got)} series bit-exactly "
                   f"(incl. {len(AWKWARD)} awkward values in series s00)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return c.finish()


if __name__ == "__main__":
    rt.run_test(body, servers=("prometheus",))
