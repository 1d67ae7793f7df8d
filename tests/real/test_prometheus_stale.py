"""Real Prometheus 2.42: the value text 'stale' sends the stale marker, which
ends a series. Two series get the same three samples; only 'ended' then gets
'stale'. An instant query one minute after the marker (well inside the 5-minute
lookback) returns 'kept' but not 'ended'; one just before the marker returns
both; a range query still returns the three earlier samples of each (range
selectors hide stale markers).
"""

import time

import realtest as rt

NAME = "psink_real_stale"


def body(ext, root):
    c = rt.Checks("real_prometheus_stale")
    base = (int(time.time()) - 20 * 60) * 1000          # ms, twenty minutes ago
    t = [base + i * 60_000 for i in range(4)]           # samples at t0..t2, marker at t3
    rows = []
    for series in ("kept", "ended"):
        labels = f"json_object('__name__', '{NAME}', 'series', '{series}')"
        for i, v in enumerate(("1.5", "2.5", "3.5")):
            rows.append(f"({labels}, {v}, {t[i]})")
        if series == "ended":
            rows.append(f"({labels}, 'stale', {t[3]})")

    with rt.server("prometheus", root) as url:
        script = (f".load {ext}\n"
                  f"CREATE VIRTUAL TABLE temp.sink USING prometheus_sink(url={rt.q(url + '/api/v1/write')});\n"
                  f"INSERT INTO sink VALUES\n  " + ",\n  ".join(rows) + ";\n")
        proc = rt.run_sql(script)
        c.check(proc.returncode == 0, f"sqlite3 exited {proc.returncode}: {proc.stderr.strip()[:600]}")
        c.note(f"sent 3 samples to each of 'kept' and 'ended', then 'stale' for 'ended' at {t[3]}")

        def instant(at_ms):
            res = rt.prom_query(url, NAME, at_ms / 1000)
            return {r["metric"]["series"]: r["value"][1] for r in res}

        before = instant(t[3] - 30_000)
        c.check(before == {"kept": "3.5", "ended": "3.5"},
                f"instant query 30 s before the marker: expected both series at 3.5, got {before}")
        c.note(f"instant query 30 s before the marker: {before}")
        after = instant(t[3] + 60_000)
        c.check(after == {"kept": "3.5"},
                f"instant query 60 s after the marker: expected only 'kept' (3.5), got {after}")
        c.note(f"instant query 60 s after the marker: {after}")

        got = rt.prom_raw_samples(url, f"{NAME}[1h]", time.time() + 1)
        by_series = {dict(k)["series"]: v for k, v in got.items()}
        want = [(t[0], "1.5"), (t[1], "2.5"), (t[2], "3.5")]
        for series in ("kept", "ended"):
            c.check(by_series.get(series) == want,
                    f"range query, series {series}: expected {want}, got {by_series.get(series)}")
        c.note(f"range query [1h]: {by_series}")
    return c.finish()


if __name__ == "__main__":
    rt.run_test(body, servers=("prometheus",))
