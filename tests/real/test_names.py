"""UTF-8 metric and label names on real receivers.

VictoriaMetrics 1.79: a sink with name_validation_scheme='utf8' sends dotted,
non-ASCII, emoji, leading-digit and colon names; /api/v1/export must give
them back exactly. Then each name_escaping_scheme sends the same names, and
what VictoriaMetrics stores must equal the escaped names computed here by a
transcription of prometheus/common's model.EscapeName (per code point; valid
names are left alone, and ':' counts as invalid in label names).

Prometheus 2.42 (measured, not a contract of Prometheus): it stores the
same UTF-8 names exactly over remote write 1.0 (/api/v1/series), selects
the series by {__name__="…"}, and its PromQL cannot name a dotted label
(the Prometheus 3 form {"service.name"="api"} is a parse error).
"""

import json
import os
import tempfile
import shutil

import realtest as rt

METRIC = "http.server.request.duration"
LABELS = {"service.name": "api", "größe": "L", "1st": "x", "x😀": "y", "a:b": "c", "a_c": "d", "k8s.pod": "p-1"}


def legacy_char(c, i, metric):
    return ("a" <= c <= "z") or ("A" <= c <= "Z") or c == "_" or (c == ":" and metric) or ("0" <= c <= "9" and i > 0)


def is_legacy(name, metric):
    return name != "" and all(legacy_char(c, i, metric) for i, c in enumerate(name))


def escape_name(name, scheme, metric):
    """model.EscapeName, with the index of a code point standing in for Go's byte index
    (only i > 0 matters, and the first code point is at both 0)."""
    if is_legacy(name, metric):
        return name
    out = "U__" if scheme == "values" else ""
    for i, c in enumerate(name):
        if scheme != "underscores" and c == "_":
            out += "__"
        elif legacy_char(c, i, metric):
            out += c
        elif scheme == "underscores":
            out += "_"
        elif scheme == "dots":
            out += "_dot_" if c == "." else "__"
        else:
            out += "_" + format(ord(c), "x") + "_"
    return out


def export(url, match):
    rt.http_get(url, "/internal/force_flush")
    text = rt.http_get(url, "/api/v1/export", {"match[]": match})
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def insert_sql(table, ts):
    obj = json.dumps({"__name__": METRIC, **LABELS}, ensure_ascii=False)
    return f"INSERT INTO {table}(labels, value, timestamp) VALUES ({rt.q(obj)}, 1.5, {ts});\n"


def body(ext, root):
    c = rt.Checks("real_names")
    ts = rt.now_ms() - 60_000
    want_utf8 = {"__name__": METRIC, **LABELS}
    with rt.server("victoria", root) as url:
        script = f".load {ext}\n"
        script += (f"CREATE VIRTUAL TABLE temp.u USING prometheus_sink(url={rt.q(url + '/api/v1/write')}, "
                   "name_validation_scheme='utf8');\n")
        script += insert_sql("u", ts)
        schemes = ("underscores", "dots", "values")
        for k, scheme in enumerate(schemes):
            script += (f"CREATE VIRTUAL TABLE temp.e{k} USING prometheus_sink(url={rt.q(url + '/api/v1/write')}, "
                       f"name_escaping_scheme='{scheme}', external_labels='{{\"scheme\":\"{scheme}\"}}');\n")
            script += insert_sql(f"e{k}", ts)
        proc = rt.run_sql(script)
        c.check(proc.returncode == 0, f"sqlite3 exited {proc.returncode}: {proc.stderr.strip()[:600]}")

        got = export(url, '{__name__="' + METRIC + '"}')
        c.check([d["metric"] for d in got] == [want_utf8],
                f"utf8: VictoriaMetrics holds {[d['metric'] for d in got]!r}, sent {want_utf8!r}")
        c.check(all(d["timestamps"] == [ts] and d["values"] == [1.5] for d in got), f"utf8: samples {got!r}")

        for scheme in schemes:
            want = {"__name__": escape_name(METRIC, scheme, True), "scheme": scheme}
            want.update({escape_name(k, scheme, False): v for k, v in LABELS.items()})
            c.check(all(is_legacy(k, False) for k in want) and is_legacy(want["__name__"], True),
                    f"{scheme}: the escaped names are not all legacy names: {want!r}")
            got = export(url, '{scheme="' + scheme + '"}')
            c.check([d["metric"] for d in got] == [want],
                    f"{scheme}: VictoriaMetrics holds {[d['metric'] for d in got]!r}, expected {want!r}")
            c.note(f"{scheme}: " + ", ".join(f"{k} -> {escape_name(k, scheme, k == METRIC)}"
                                              for k in [METRIC, *LABELS]))

    # Prometheus 2.42: what it does with the same names.
    with rt.server("prometheus", root) as url:
        script = (f".load {ext}\nCREATE VIRTUAL TABLE temp.u USING prometheus_sink("
                  f"url={rt.q(url + '/api/v1/write')}, name_validation_scheme='utf8');\n" + insert_sql("u", ts))
        proc = rt.run_sql(script)
        c.check(proc.returncode == 0, f"prometheus: sqlite3 exited {proc.returncode}: {proc.stderr.strip()[:600]}")
        series = json.loads(rt.http_get(url, "/api/v1/series", {"match[]": '{__name__="' + METRIC + '"}'}))
        c.check(series.get("data") == [want_utf8],
                f"prometheus 2.42: /api/v1/series gives {series.get('data')!r}, sent {want_utf8!r}")
        at = ts / 1000 + 1
        result = rt.prom_query(url, '{__name__="' + METRIC + '"}', at)
        c.check(len(result) == 1 and result[0]["metric"] == want_utf8,
                f"prometheus 2.42: selecting by __name__ gives {result!r}")
        try:
            rt.prom_query(url, '{"service.name"="api"}', at)
            c.check(False, "prometheus 2.42 parsed {\"service.name\"=\"api\"} (expected a parse error)")
        except RuntimeError as e:
            c.check("parse error" in str(e), f"prometheus 2.42 on a quoted label name: {e}")
            c.note("prometheus 2.42 on {\"service.name\"=\"api\"}: " + str(e)[-160:])
    return c.finish()


if __name__ == "__main__":
    rt.run_test(body, servers=("victoria", "prometheus"))
