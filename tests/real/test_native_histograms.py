"""Native histograms and exemplars against a real Prometheus 2.42 started with
--enable-feature=native-histograms,exemplar-storage: histograms of schema -2,
0 and 3 (integer and float; positive, negative and zero buckets; gaps between
spans; a custom zero threshold) exported through the sqlite3 shell over 1.0
(and over 2.0, which Prometheus 2.42 refuses, so the sink falls back) read
back exactly through /api/v1/query (count, sum, every bucket with its bounds)
and histogram_count()/histogram_sum(); exemplars read back exactly through
/api/v1/query_exemplars. Then what VictoriaMetrics 1.79 does with the same
requests: it answers 204, keeps the float samples and drops the histograms
and exemplars (README, "Native histograms and exemplars").
"""

import json
import time

import realtest as rt



def export(ext, url, protocol, rows_sql):
    script = (f".load {ext}\n"
              f"CREATE VIRTUAL TABLE temp.m USING prometheus_sink(url={rt.q(url + '/api/v1/write')}, "
              f"protocol={rt.q(protocol)});\n"
              f"{rows_sql}\n"
              ".mode list\n"
              "SELECT samples_sent, histograms_sent, exemplars_sent, protocol FROM prometheus_sink_stats;\n")
    return rt.run_sql(script)


def check_histogram(c, base, metric, key, h, ts_ms):
    sel = f'{metric}{{k="{key}"}}'
    res = rt.prom_query(base, sel, ts_ms / 1000)
    if not c.check(len(res) == 1 and "histogram" in res[0], f"{sel}: one histogram at {ts_ms} ({res})"):
        return
    t, got = res[0]["histogram"]
    c.check(int(t * 1000) == ts_ms, f"{sel}: timestamp {t}, want {ts_ms / 1000}")
    # The default count as the sink adds it up: negative buckets, positive
    # ones (Prometheus's order), then the zero bucket.
    total = 0.0
    for side in ("negative", "positive"):
        for _, v in sorted((int(i), float(v)) for i, v in (h.get(side) or {}).items()):
            total += v
    total += float(h.get("zero_count", 0))
    want_count = float(h.get("count", total))
    c.check(float(got["count"]) == want_count, f"{sel}: count {got['count']}, want {want_count!r}")
    c.check(float(got["sum"]) == float(h["sum"]), f"{sel}: sum {got['sum']}, want {h['sum']!r}")
    want = [list(b) for b in rt.histogram_buckets(h)]
    have = [[b[0], float(b[1]), float(b[2]), float(b[3])] for b in got.get("buckets", [])]
    c.check(have == want, f"{sel}: buckets\n    {have}\n  want\n    {want}")
    for fn, value in (("histogram_count", want_count), ("histogram_sum", float(h["sum"]))):
        r = rt.prom_query(base, f"{fn}({sel})", ts_ms / 1000)
        c.check(len(r) == 1 and float(r[0]["value"][1]) == value, f"{fn}({sel}) = {r}, want {value!r}")


def exemplars(base, metric, start_ms, end_ms):
    body = rt.http_get(base, "/api/v1/query_exemplars",
                       {"query": metric, "start": f"{start_ms / 1000:.3f}", "end": f"{end_ms / 1000:.3f}"})
    out = []
    for series in json.loads(body)["data"]:
        for e in series["exemplars"]:
            out.append((rt.labels_key(series["seriesLabels"]), rt.labels_key(e["labels"]),
                        float(e["value"]), round(float(e["timestamp"]) * 1000)))
    return sorted(out)


def body(ext, root):
    c = rt.Checks("real_native_histograms")
    now = rt.now_ms() // 1000 * 1000
    t0 = now - 120_000
    with rt.server("prometheus", root, ["--native-histograms"]) as base:
        for protocol, metric in (("1.0", "lat_v1"), ("2.0", "lat_v2")):
            rows = ",\n".join(
                f"  ({rt.q(json.dumps({'__name__': metric, 'k': k}))}, {rt.q(json.dumps(h))}, {t0 + i * 1000})"
                for i, (k, h) in enumerate(rt.NATIVE_HISTOGRAMS.items()))
            proc = export(ext, base, protocol,
                          f"INSERT INTO m(labels, histogram, timestamp) VALUES\n{rows};")
            want_protocol = "1.0" if protocol == "1.0" else "1.0 (2.0 refused by the receiver)"
            c.check(proc.returncode == 0 and proc.stdout.strip() == f"3|3|0|{want_protocol}",
                    f"protocol {protocol}: 3 histograms sent ({proc.stdout.strip()!r}, {proc.stderr.strip()[:300]!r})")
            for i, (k, h) in enumerate(rt.NATIVE_HISTOGRAMS.items()):
                check_histogram(c, base, metric, k, h, t0 + i * 1000)

        # Exemplars: on float samples, and on histograms of a series that
        # exists (Prometheus 2.42 handles a TimeSeries' exemplars before its
        # histograms, so an exemplar on the first histogram of a new series
        # finds no series and is dropped).
        t1 = now - 60_000
        trace = "é" + "x" * 119  # "trace_id" and this: 128 characters (129 bytes), the limit
        proc = export(ext, base, "1.0", f"""
INSERT INTO m(labels, value, timestamp, exemplar) VALUES
  ('{{"__name__":"req_total","route":"/a"}}', 1, {t1}, '{{"labels":{{"trace_id":"4bf92f3577b34da6"}},"value":0.042}}'),
  ('{{"__name__":"req_total","route":"/a"}}', 2, {t1 + 1000}, '{{"labels":{{"trace_id":"{trace}"}}}}'),
  ('{{"__name__":"req_total","route":"/a"}}', 3, {t1 + 2000}, '{{"labels":{{"trace_id":"t3","span_id":"s3"}},"value":-1.5,"timestamp":{t1 + 1500}}}');
INSERT INTO m(labels, histogram, timestamp, exemplar) VALUES
  ('{{"__name__":"lat_v1","k":"a"}}', {rt.q(json.dumps(rt.NATIVE_HISTOGRAMS['a']))}, {t1 + 3000}, '{{"labels":{{"trace_id":"h1"}},"value":7.5}}');""")
        c.check(proc.returncode == 0 and proc.stdout.strip().startswith("4|1|4|"),
                f"exemplars exported ({proc.stdout.strip()!r}, {proc.stderr.strip()[:300]!r})")
        got = exemplars(base, '{__name__=~"req_total|lat_v1"}', t1 - 1000, t1 + 10_000)
        route = (("__name__", "req_total"), ("route", "/a"))
        want = sorted([
            (route, (("trace_id", "4bf92f3577b34da6"),), 0.042, t1),
            (route, (("trace_id", trace),), 2.0, t1 + 1000),
            (route, (("span_id", "s3"), ("trace_id", "t3")), -1.5, t1 + 1500),
            ((("__name__", "lat_v1"), ("k", "a")), (("trace_id", "h1"),), 7.5, t1 + 3000),
        ])
        c.check(got == want, f"exemplars read back exactly:\n    {got}\n  want\n    {want}")

    # VictoriaMetrics 1.79: 204, the float sample kept, histogram and exemplar dropped.
    with rt.server("victoria", root) as base:
        proc = export(ext, base, "1.0", f"""
INSERT INTO m(labels, histogram, timestamp) VALUES ('{{"__name__":"vm_lat"}}', {rt.q(json.dumps(rt.NATIVE_HISTOGRAMS['a']))}, {t0});
INSERT INTO m(labels, value, timestamp, exemplar) VALUES ('{{"__name__":"vm_req_total"}}', 5, {t0}, '{{"labels":{{"trace_id":"x"}}}}');""")
        c.check(proc.returncode == 0 and proc.stdout.strip() == "2|1|1|1.0",
                f"VictoriaMetrics answers 2xx to histograms and exemplars ({proc.stdout.strip()!r}, {proc.stderr.strip()[:300]!r})")
        c.check(rt.vm_export(base, "vm_req_total") == {(None, t0): [5.0]}, "VictoriaMetrics keeps the float sample")
        c.check(rt.vm_export(base, "vm_lat") == {}, "VictoriaMetrics stores nothing of the histogram")
    return c.finish()


if __name__ == "__main__":
    rt.run_test(body, servers=("prometheus", "victoria"))
