"""Every recipe in sql/ runs against a real Prometheus, as a user would run
it (the stock sqlite3 shell reading the file), with only the URL and the
extension path substituted; then the samples are counted back through the
query API.
"""

import json
import os
import sqlite3
import tempfile
import time

import realtest as rt


def run_recipe(c, root, ext, base, name, db):
    text = open(os.path.join(root, "sql", name + ".sql")).read()
    text = text.replace("http://127.0.0.1:9090", base).replace(".load ./build/prometheus_sink", ".load " + ext)
    proc = rt.run_sql(text, db=db)
    c.check(proc.returncode == 0, f"{name}.sql exits 0 (stderr: {proc.stderr.strip()[:300]!r})")
    return proc.stdout


def count_samples(base, selector, window="8h"):
    result = rt.prom_query(base, f"sum(count_over_time({selector}[{window}]))", time.time())
    return int(result[0]["value"][1]) if result else 0


def body(ext, root):
    c = rt.Checks("real_recipes")
    work = tempfile.mkdtemp(prefix="psink-recipes-")
    with rt.server("prometheus", root, ["--native-histograms"]) as base:
        out = run_recipe(c, root, ext, base, "wide_export", os.path.join(work, "wide.db"))
        c.check("exported 60 samples" in out, f"wide_export reports 60 samples: {out.strip()!r}")
        c.check(count_samples(base, 'room_temperature_celsius{site="home",sensor="dht22"}') == 60,
                "wide_export: 60 samples with labels site=home, sensor=dht22 in Prometheus")
        rooms = rt.prom_query(base, "count by (room) (count_over_time(room_temperature_celsius[1h]))", time.time())
        c.check(sorted(r["metric"]["room"] for r in rooms) == ["kitchen", "office"], "wide_export: both rooms")

        out = run_recipe(c, root, ext, base, "backfill", os.path.join(work, "history.db"))
        c.check("backfilled 1080 samples in 1 requests" in out, f"backfill reports 1080 samples: {out.strip()!r}")
        c.check(count_samples(base, "node_load1") == 1080, "backfill: 6 hours x 3 hosts = 1080 samples stored")

        db = os.path.join(work, "app.db")
        now = rt.now_ms()
        con = sqlite3.connect(db)
        con.execute("CREATE TABLE events(id INTEGER PRIMARY KEY, kind TEXT, duration_ms REAL, ts INTEGER)")
        con.executemany("INSERT INTO events(kind, duration_ms, ts) VALUES (?, ?, ?)",
                        [("build", 1200.5, now - 60000), ("test", 300.25, now - 50000), ("build", 980, now - 40000)])
        con.commit()
        out = run_recipe(c, root, ext, base, "periodic_job", db)
        c.check("exported 3 new rows; high-water mark 3" in out, f"first run exports 3 rows: {out.strip()!r}")
        con.executemany("INSERT INTO events(kind, duration_ms, ts) VALUES (?, ?, ?)",
                        [("test", 310, now - 30000), ("deploy", 45000, now - 20000)])
        con.commit()
        con.close()
        out = run_recipe(c, root, ext, base, "periodic_job", db)
        c.check("exported 2 new rows; high-water mark 5" in out, f"second run exports only the 2 new rows: {out.strip()!r}")
        out = run_recipe(c, root, ext, base, "periodic_job", db)
        c.check("exported 0 new rows; high-water mark 5" in out, f"third run exports nothing: {out.strip()!r}")
        c.check(count_samples(base, "job_duration_milliseconds", "1h") == 5, "periodic_job: each event stored once")

        out = run_recipe(c, root, ext, base, "progress", os.path.join(work, "flow.db"))
        c.check(out.count("│ pumps │") == 3, "progress prints the stats after each of the 3 slices")
        c.check("│ 21600 " in out, "progress: all 21600 samples acknowledged at the end")
        c.check(count_samples(base, "pump_flow_litres") == 21600, "progress: 21600 samples stored")

        db = os.path.join(work, "outbox.db")
        con = sqlite3.connect(db)
        con.execute("CREATE TABLE outbox(name TEXT NOT NULL, host TEXT, value REAL, ts INTEGER)")
        con.executemany("INSERT INTO outbox VALUES (?, ?, ?, ?)",
                        [("queue_depth", f"h{i % 3}", i, now - 1000 * (10 - i)) for i in range(10)])
        con.commit()
        con.close()
        out = run_recipe(c, root, ext, base, "outbox", db)
        c.check("sent 10 samples in 1 requests" in out, f"outbox reports 10 samples: {out.strip()!r}")
        left = sqlite3.connect(db).execute("SELECT count(*) FROM outbox").fetchone()[0]
        c.check(left == 0, f"outbox is empty after a successful export ({left} left)")
        c.check(count_samples(base, "queue_depth", "1h") == 10, "outbox: 10 samples stored")

        check_native_histograms(c, root, ext, base, os.path.join(work, "latency.db"))
    return c.finish()


def check_native_histograms(c, root, ext, base, db):
    """sql/native_histograms.sql: every route and minute is a histogram in
    Prometheus, and histogram_quantile() there gives exactly the quantiles
    computed (as Prometheus 2.42 computes them) from the histogram JSON the
    same GROUP BY yields in SQLite."""
    out = run_recipe(c, root, ext, base, "native_histograms", db)
    c.check("exported 90 histograms of 5400 requests in 1 request(s)" in out,
            f"native_histograms reports its histograms: {out.strip()!r}")
    proc = rt.run_sql(f".load {ext}\n.mode tabs\n"
                      "SELECT route, (ts / 60000) * 60000 + 59999, prometheus_histogram(seconds) FROM requests "
                      "GROUP BY route, ts / 60000 ORDER BY 2, 1;\n", db=db)
    rows = [line.split("\t") for line in proc.stdout.splitlines()]
    c.check(len(rows) == 90, f"{len(rows)} (route, minute) histograms recomputed in SQLite")
    mismatches = 0
    checked = 0
    for route, ts_ms, text in rows:
        h = json.loads(text)
        at = int(ts_ms) / 1000
        sel = f'http_request_duration_seconds{{route="{route}"}}'
        for q in (0.5, 0.9, 0.99):
            want = rt.histogram_quantile(q, h)
            if checked == 0:
                c.note(f"e.g. {route} at {ts_ms}: histogram_quantile({q}) = {want!r}")
            got = rt.prom_query(base, f"histogram_quantile({q}, {sel})", at)
            ok = len(got) == 1 and float(got[0]["value"][1]) == want
            mismatches += not ok
            checked += 1
            if not ok and mismatches <= 3:
                c.check(False, f"{route} at {ts_ms}: histogram_quantile({q}) is {got} in Prometheus, {want!r} from the JSON")
        got = rt.prom_query(base, f"histogram_count({sel})", at)
        ok = len(got) == 1 and float(got[0]["value"][1]) == h["count"]
        mismatches += not ok
        if not ok and mismatches <= 3:
            c.check(False, f"{route} at {ts_ms}: histogram_count is {got}, want {h['count']}")
    c.check(mismatches == 0, f"native_histograms: {checked} quantiles and {len(rows)} counts agree exactly "
                             f"({mismatches} mismatches)")


if __name__ == "__main__":
    rt.run_test(body, servers=("prometheus",))
