"""Real Prometheus 2.42: timestamps in every accepted form come back at the
right millisecond. ISO-8601 / SQLite date text (T or space, fractions, Z,
+HH:MM, -HH:MM, no offset = UTC), INTEGER and REAL milliseconds (the
sub-millisecond part truncated), seconds under timestamp_unit='s' (INTEGER
and REAL with a fraction), microseconds and nanoseconds, and NULL (the time
of the INSERT). One series per case; each sample is read back with a range
selector and its timestamp compared exactly.
"""

import datetime as dt
import time

import realtest as rt

NAME = "psink_real_ts"
UTC = dt.timezone.utc


def text_at(epoch_s, fmt, offset_minutes=0, frac=""):
    """epoch_s rendered as local time at the given UTC offset."""
    tz = dt.timezone(dt.timedelta(minutes=offset_minutes))
    return dt.datetime.fromtimestamp(epoch_s, tz).strftime(fmt) + frac


def body(ext, root):
    c = rt.Checks("real_prometheus_timestamps")
    base = int(time.time()) - 30 * 60          # whole seconds, half an hour ago
    ms = lambda s, extra=0: s * 1000 + extra
    T, S = "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"
    # (sink, case, SQL literal for the timestamp, expected ms)
    cases = [
        ("ts_ms", "iso_t_no_offset", rt.q(text_at(base, T)), ms(base)),
        ("ts_ms", "iso_space_millis", rt.q(text_at(base + 10, S, 0, ".123")), ms(base + 10, 123)),
        ("ts_ms", "iso_z_half", rt.q(text_at(base + 20, T, 0, ".5Z")), ms(base + 20, 500)),
        ("ts_ms", "iso_plus_0200", rt.q(text_at(base + 30, T, 120, ".250+02:00")), ms(base + 30, 250)),
        ("ts_ms", "iso_minus_0530", rt.q(text_at(base + 40, S, -330, "-05:30")), ms(base + 40)),
        ("ts_ms", "iso_micro_z", rt.q(text_at(base + 50, T, 0, ".123456Z")), ms(base + 50, 123)),
        ("ts_ms", "int_ms", str(ms(base + 60, 789)), ms(base + 60, 789)),
        ("ts_ms", "real_ms_fraction", f"{ms(base + 70, 41)}.75", ms(base + 70, 41)),
        ("ts_s", "s_integer", str(base + 80), ms(base + 80)),
        ("ts_s", "s_real_half", f"{base + 90}.5", ms(base + 90, 500)),
        ("ts_s", "s_real_eighth", f"{base + 100}.125", ms(base + 100, 125)),
        ("ts_s", "s_iso_text", rt.q(text_at(base + 110, T, 0, "Z")), ms(base + 110)),
        ("ts_us", "us_integer", str((base + 120) * 10**6 + 345_678), ms(base + 120, 345)),
        ("ts_ns", "ns_integer", str((base + 130) * 10**9 + 987_654_321), ms(base + 130, 987)),
    ]
    units = {"ts_ms": None, "ts_s": "s", "ts_us": "us", "ts_ns": "ns"}

    with rt.server("prometheus", root) as url:
        write = rt.q(url + "/api/v1/write")
        lines = [f".load {ext}"]
        for sink, unit in units.items():
            opt = f", timestamp_unit='{unit}'" if unit else ""
            lines.append(f"CREATE VIRTUAL TABLE temp.{sink} USING prometheus_sink(url={write}{opt});")
        lines.append("BEGIN;")
        for i, (sink, case, lit, _) in enumerate(cases):
            lines.append(f"INSERT INTO {sink} VALUES (json_object('__name__', '{NAME}', 'case', '{case}'), "
                         f"{i}, {lit});")
        lines.append("COMMIT;")
        # NULL and an absent column both mean "now", in an autocommit INSERT of its own.
        lines.append(f"INSERT INTO ts_ms VALUES (json_object('__name__', '{NAME}', 'case', 'null_now'), 100, NULL);")
        lines.append(f"INSERT INTO ts_s(labels, value) VALUES (json_object('__name__', '{NAME}', 'case', 'absent_now'), 101);")
        script = "\n".join(lines) + "\n"

        t_before = rt.now_ms()
        proc = rt.run_sql(script)
        t_after = rt.now_ms()
        c.check(proc.returncode == 0, f"sqlite3 exited {proc.returncode}: {proc.stderr.strip()[:600]}")

        got = rt.prom_raw_samples(url, f"{NAME}[3h]", time.time() + 5)
        by_case = {dict(k)["case"]: v for k, v in got.items()}
        for sink, case, lit, want in cases:
            have = by_case.get(case)
            if not c.check(have is not None, f"{case}: {sink} value {lit} not found in Prometheus"):
                continue
            c.check([ts for ts, _ in have] == [want],
                    f"{case}: {sink} timestamp {lit}: expected {want} ms, got {[ts for ts, _ in have]}")
            c.note(f"{case:18} {sink:6} {lit:34} -> {have[0][0]} ms (expected {want})")
        for case in ("null_now", "absent_now"):
            have = by_case.get(case)
            if c.check(have is not None, f"{case}: sample not found in Prometheus"):
                ts = have[0][0]
                c.check(len(have) == 1 and t_before <= ts <= t_after,
                        f"{case}: expected one sample stamped between {t_before} and {t_after}, got {have}")
                c.note(f"{case:18} stamped {ts} ms (run lasted {t_before}..{t_after})")
        c.check(len(by_case) == len(cases) + 2,
                f"expected {len(cases) + 2} series, got {sorted(by_case)}")
    return c.finish()


if __name__ == "__main__":
    rt.run_test(body, servers=("prometheus",))
