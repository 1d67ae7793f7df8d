"""Reading back with prometheus_query() and prometheus_query_range() from a
real Prometheus 2.42 (native histograms enabled) and a real VictoriaMetrics
1.79: rows exported with the sink come back exactly through
prometheus_query('s', 'm[2h]') (VictoriaMetrics: integer values, which it
keeps exactly); count(m) and a range query give the expected rows; native
histograms written with the sink read back equal (reset hint aside); bad
PromQL, a receiver that is down and an oversized answer fail with a clear
message; a view in main cannot use the functions. Then the recipe
sql/incremental_export.sql runs twice: the first run exports every reading,
the second sends nothing, and the reconciliation finds no difference.
"""

import json
import math
import os
import sqlite3
import tempfile

import realtest as rt



def connect(ext, url, options=""):
    con = sqlite3.connect(":memory:")
    con.enable_load_extension(True)
    con.load_extension(ext)
    con.execute(f"CREATE VIRTUAL TABLE temp.s USING prometheus_sink(url={rt.q(url)}{options})")
    return con


def error_of(con, sql):
    try:
        con.execute(sql).fetchall()
    except sqlite3.Error as e:
        return str(e)
    return None


def samples(t0, n, values):
    """[(labels_json, value, ts_ms)]: n samples a minute apart per series."""
    out = []
    for k, vals in values.items():
        labels = json.dumps({"__name__": "qm", "k": k}, separators=(",", ":"), sort_keys=True)
        for i in range(n):
            out.append((labels, vals(i), t0 + i * 60_000))
    return out


def export(con, rows):
    con.executemany("INSERT INTO s(labels, value, timestamp) VALUES (?, ?, ?)", rows)
    con.commit()


def same(a, b):
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    return rt.same_double(a, b)


def check_exact(c, con, rows, what):
    # Series in the receiver's order (VictoriaMetrics has its own), samples by time.
    got = sorted(con.execute("SELECT labels, value, timestamp FROM prometheus_query('s', 'qm[2h]')").fetchall(),
                 key=lambda r: (r[0], r[2]))
    want = sorted(rows, key=lambda r: (r[0], r[2]))
    c.check(len(got) == len(want), f"{what}: {len(got)} rows back, want {len(want)}")
    bad = [(g, w) for g, w in zip(got, want) if g[0] != w[0] or g[2] != w[2] or not same(g[1], w[1])]
    c.check(not bad, f"{what}: rows differ, first {bad[:3]}")


def check_errors(c, con, base, ext, what):
    msg = error_of(con, "SELECT * FROM prometheus_query('s', 'sum(')")
    c.check(msg is not None and msg.startswith("prometheus_sink: prometheus_query(): sink 's': query 'sum(' at ")
            and ("HTTP 400: bad_data: " in msg or "HTTP 422: " in msg),
            f"{what}: bad PromQL fails with the receiver's error: {msg!r}")
    small = connect(ext, base + "/api/v1/write", ", query_max_bytes=1024")
    msg = error_of(small, "SELECT * FROM prometheus_query('s', 'qm[2h]')")
    c.check(msg is not None and "the answer is larger than query_max_bytes (1024 bytes)" in msg,
            f"{what}: an oversized answer fails: {msg!r}")
    con.execute("CREATE VIEW v AS SELECT * FROM prometheus_query('s', 'qm')")
    msg = error_of(con, "SELECT * FROM v")
    c.check(msg is not None and 'unsafe use of virtual table "prometheus_query"' in msg,
            f"{what}: a view in main is refused: {msg!r}")


def prometheus(c, ext, root):
    now = rt.now_ms() // 1000 * 1000
    t0 = now - 100 * 60_000
    values = {
        "a": lambda i: [0.1 * i, -1e-300, 1e300, float("inf"), 12345678901234.5, "NaN"][i % 6],
        "b": lambda i: math.pi * i - 7,
        "c": lambda i: float(i * i),
    }
    rows = samples(t0, 100, values)
    with rt.server("prometheus", root, ["--native-histograms"]) as base:
        con = connect(ext, base + "/api/v1/write")
        export(con, rows)
        check_exact(c, con, rows, "prometheus")
        got = con.execute("SELECT labels, value, histogram FROM prometheus_query('s', 'count(qm)')").fetchall()
        c.check(got == [("{}", 3.0, None)], f"prometheus: count(qm) = {got}")
        # A range query over the samples' own times: each step sees the sample at that time.
        t_last = t0 + 99 * 60_000
        got = con.execute("SELECT labels, timestamp, value FROM prometheus_query_range('s', 'qm{k=\"b\"}', ?, ?, 60000)",
                          (t0 + 50 * 60_000, t_last)).fetchall()
        want = [(r[0], r[2], r[1]) for r in rows if r[0].endswith('"b"}') and r[2] >= t0 + 50 * 60_000]
        c.check(len(got) == 50 and got == want, f"prometheus: range query rows {got[:2]}... want {want[:2]}...")
        check_errors(c, con, base, ext, "prometheus")
        # Native histograms, one series per selector (Prometheus 2.42 mixes up
        # several native-histogram series under one range selector).
        for key, h in rt.NATIVE_HISTOGRAMS.items():
            con.execute("INSERT INTO s(labels, histogram, timestamp) VALUES (?, ?, ?)",
                        (json.dumps({"__name__": "hq", "k": key}), json.dumps(h), now - 60_000))
        con.commit()
        for key, h in rt.NATIVE_HISTOGRAMS.items():
            got = con.execute(f"SELECT labels, timestamp, value, histogram FROM prometheus_query('s', 'hq{{k=\"{key}\"}}[2h]')").fetchall()
            if not c.check(len(got) == 1, f"prometheus: one histogram for {key}: {got}"):
                continue
            labels, ts, value, text = got[0]
            c.check((labels, ts, value) == (f'{{"__name__":"hq","k":"{key}"}}', now - 60_000, None),
                    f"prometheus: histogram {key} row {got[0][:3]}")
            back = json.loads(text)
            want = dict(h)
            want.pop("reset", None)  # the query API does not give it
            want.setdefault("zero_threshold", rt.DEFAULT_ZERO_THRESHOLD)
            if "count" not in want:
                want["count"] = sum(float(v) for side in ("negative", "positive") for v in h[side].values()) + \
                    float(h.get("zero_count", 0))
            norm = lambda d: {k: ({i: float(n) for i, n in v.items()} if isinstance(v, dict) else float(v))
                              for k, v in d.items()}
            c.check(norm(back) == norm(want), f"prometheus: histogram {key} reads back\n    {back}\n  want\n    {want}")
            # The kind: b has fractional counts, a and c integer ones.
            c.check(isinstance(back["count"], float) == (key == "b"), f"prometheus: histogram {key} kind: {text}")
        run_recipe_twice(c, ext, root, base)
    # The receiver is down now.
    msg = error_of(con, "SELECT * FROM prometheus_query('s', 'qm[2h]')")
    c.check(msg is not None and "query 'qm[2h]' failed: POST http://127.0.0.1:" in msg and
            "Couldn't connect to server" in msg, f"prometheus: a receiver that is down: {msg!r}")


def run_recipe_twice(c, ext, root, base):
    text = open(os.path.join(root, "sql", "incremental_export.sql")).read()
    text = text.replace("http://127.0.0.1:9090", base).replace(".load ./build/prometheus_sink", ".load " + ext)
    work = tempfile.mkdtemp(prefix="psink-query-")
    db = os.path.join(work, "app.db")
    now = rt.now_ms()
    rt.make_table_db(db, "CREATE TABLE readings(sensor TEXT, celsius REAL, ts INTEGER)",
                     [(s, 20 + i * 0.25, now - (60 - i) * 60_000) for i in range(30) for s in ("attic", "cellar")])
    outs = []
    for run in (1, 2):
        proc = rt.run_sql(text, db=db)
        c.check(proc.returncode == 0, f"incremental_export.sql run {run} exits 0: {proc.stderr.strip()[:300]!r}")
        outs.append(proc.stdout.strip())
    c.check(outs[0] == "exported 60 readings\nreconciled 2 series", f"first run: {outs[0]!r}")
    c.check(outs[1] == "exported 0 readings\nreconciled 2 series", f"second run sends nothing: {outs[1]!r}")
    # New readings: only they go.
    con = sqlite3.connect(db)
    con.executemany("INSERT INTO readings VALUES (?, ?, ?)", [("attic", 30.5, now - 5_000), ("cellar", 9.5, now - 4_000)])
    con.commit()
    con.close()
    proc = rt.run_sql(text, db=db)
    c.check(proc.stdout.strip() == "exported 2 readings\nreconciled 2 series", f"third run: {proc.stdout.strip()!r}")


def victoria(c, ext, root):
    now = rt.now_ms() // 1000 * 1000
    t0 = now - 100 * 60_000
    # Integer values: VictoriaMetrics keeps about 12 significant digits.
    values = {
        "a": lambda i: float(i * 1000 - 50_000),
        "b": lambda i: float(2 ** 40 + i),
        "c": lambda i: float(-i),
    }
    rows = samples(t0, 100, values)
    with rt.server("victoria", root) as base:
        con = connect(ext, base + "/api/v1/write")
        export(con, rows)
        rt.http_get(base, "/internal/force_flush")
        check_exact(c, con, rows, "victoria")
        got = con.execute("SELECT labels, value FROM prometheus_query('s', 'count(qm)')").fetchall()
        c.check(got == [("{}", 3.0)], f"victoria: count(qm) = {got}")
        got = con.execute("SELECT count(*), min(value), max(value) FROM "
                          "prometheus_query_range('s', 'count(qm)', ?, ?, 60000)", (t0 + 10 * 60_000, t0 + 90 * 60_000)).fetchall()
        c.check(got == [(81, 3.0, 3.0)], f"victoria: a range query of count(qm): {got}")
        check_errors(c, con, base, ext, "victoria")


def body(ext, root):
    c = rt.Checks("real_query")
    prometheus(c, ext, root)
    victoria(c, ext, root)
    return c.finish()


rt.run_test(body, servers=("prometheus", "victoria"))
