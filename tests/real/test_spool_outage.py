"""Durable spool across a receiver outage, against a real VictoriaMetrics 1.79
that is stopped and started again on the same port and data folder
(VICTORIA_PORT=... scripts/victoria.sh start DIR).

Two spooled sinks, one in a rollback-journal database and one in a WAL-mode
database, each pointed at the (stopped) server:
  1. five separate transactions of 200 rows each while the receiver is down:
     every COMMIT succeeds, the spool grows by 200 each time and
     prometheus_sink_stats shows spool_rows, spool_oldest_timestamp and a
     last_error about the refused connection;
  2. VACUUM while the rows wait; the sqlite3 process exits; the spool, read
     straight from the file, holds every row bit-exactly (labels, value bits, ts);
  3. the receiver comes back; a NEW sqlite3 process runs
     SELECT prometheus_sink_flush('m') -> 1000, and the spool is empty;
  4. /api/v1/export: every row exactly once (one sample per (series, ts)),
     values to VictoriaMetrics' ~12 significant digits;
  5. one more transaction of 200 rows is delivered at its COMMIT (spool empty
     right after it) and read back exactly once too.
"""

import json
import math
import os
import random
import shutil
import sqlite3
import struct
import tempfile
import time

import realtest as rt

SERIES, COMMITS, PER_COMMIT, BATCH = 10, 5, 200, 150
REL_TOL = 1e-11
JOURNALS = ("delete", "wal")


def Victoria(root):
    return rt.RestartableVictoria(root, prefix="psink-real-spool-vm-")


def export(url, name):
    return rt.vm_export(url, name)


def close_enough(got, want):
    if want == 0:
        return got == 0
    return abs(got - want) <= REL_TOL * abs(want)


def make_rows(t0, seed):
    """(chunk, series, ts, value) rows: chunk k holds PER_COMMIT rows, one sample
    per (series, ts); values of one series keep one magnitude."""
    rnd = random.Random(seed)
    scale = [10.0 ** rnd.randint(-3, 8) for _ in range(SERIES)]
    rows = []
    per_series = PER_COMMIT // SERIES
    for k in range(COMMITS + 1):            # the last chunk is the after-recovery commit
        for j in range(per_series):
            ts = t0 + (k * per_series + j) * 1000 + rnd.randint(0, 999)
            for s in range(SERIES):
                rows.append((k, f"s{s}", ts, rnd.uniform(0.5, 1.0) * scale[s] * rnd.choice((1, -1))))
    return rows


def read_spool(db):
    """What m_spool holds, read straight from the file: (batches, samples). A sink stores
    each batch as its rows (src/spool_format.h): u32 magic 0x70737032, u32 series count, per
    series u32 length and the label JSON, u32 sample count, per sample u32 series, u64 value
    bits, i64 ms. (That every value arrives bit-exactly is checked by the integration suite,
    and here after the flush, by reading the samples back.)"""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        batches = samples = 0
        for rows, data in con.execute("SELECT rows, data FROM m_spool ORDER BY id"):
            magic, nseries = struct.unpack_from("<II", data, 0)
            assert magic == 0x70737032, hex(magic)
            pos = 8
            for _ in range(nseries):
                (length,) = struct.unpack_from("<I", data, pos)
                pos += 4 + length
            (n,) = struct.unpack_from("<I", data, pos)
            pos += 4 + 20 * n
            assert pos == len(data) and n == rows, (pos, len(data), n, rows)
            batches += 1
            samples += n
        return batches, samples
    finally:
        con.close()


def insert_chunk(k):
    return (f"BEGIN;\nINSERT INTO m SELECT json_object('__name__', name, 'series', series), v, ts "
            f"FROM src WHERE chunk = {k} ORDER BY ts, series;\nCOMMIT;\n")


def check_delivery(c, tag, got, want):
    """Every wanted (series, ts) exactly once with its value; nothing else. Returns (read back, duplicates)."""
    stored = sum(len(v) for v in got.values())
    dups = stored - len(got)
    missing = [key for key in want if key not in got]
    extra = [key for key in got if key not in want]
    c.check(not missing, f"{tag}: {len(missing)} of {len(want)} rows missing, e.g. {sorted(missing)[:3]}")
    c.check(not extra, f"{tag}: {len(extra)} unexpected samples, e.g. {sorted(extra)[:3]}")
    c.check(dups == 0, f"{tag}: {dups} duplicate samples (each row must arrive exactly once), e.g. "
            f"{[k for k, v in got.items() if len(v) > 1][:3]}")
    bad = [(key, want[key], got[key][0]) for key in want if key in got and not close_enough(got[key][0], want[key])]
    c.check(not bad, f"{tag}: {len(bad)} values differ (sent, got), e.g. {bad[:3]}")
    return stored, dups


def body(ext, root):
    c = rt.Checks("real_spool_outage")
    work = tempfile.mkdtemp(prefix="psink-real-spool-outage-")
    vm = Victoria(root)
    t0 = rt.now_ms() - 3 * 3600_000
    try:
        vm.start()
        vm.stop()                       # the receiver is down from the start
        url = f"http://127.0.0.1:{vm.port}"
        c.note(f"VictoriaMetrics stopped; the sinks point at {url} (connection refused)")

        dbs, rows = {}, {}
        for n, journal in enumerate(JOURNALS):
            db = os.path.join(work, f"{journal}.db")
            dbs[journal] = db
            name = f"psink_spool_outage_{journal}"
            rows[journal] = make_rows(t0, 42 + n)
            rt.make_table_db(db, "CREATE TABLE src(chunk INTEGER, series TEXT, ts INTEGER, v REAL)",
                             [(k, s, ts, v) for k, s, ts, v in rows[journal]])
            con = sqlite3.connect(db)
            con.execute(f"PRAGMA journal_mode = {journal}")
            con.execute("ALTER TABLE src ADD COLUMN name TEXT")
            con.execute("UPDATE src SET name = ?", (name,))
            con.commit()
            con.close()

        # 1. five commits while the receiver is down; VACUUM while the rows wait
        for journal, db in dbs.items():
            script = f""".load {ext}
CREATE VIRTUAL TABLE m USING prometheus_sink(url={rt.q(url + '/api/v1/write')}, retry=1,
    retry_backoff_multiplier_ms=10, retry_backoff_max_ms=50, batch_size={BATCH}, spool=on);
"""
            for k in range(COMMITS):
                script += insert_chunk(k)
                script += ("SELECT 'stats', spool_rows, spool_oldest_timestamp, samples_sent, "
                           "last_error FROM prometheus_sink_stats WHERE name = 'm';\n")
            script += ("VACUUM;\nSELECT 'after vacuum', sum(rows), min(min_ts) FROM m_spool;\n"
                       "SELECT 'journal', * FROM pragma_journal_mode;\n")
            t_start = time.time()
            proc = rt.run_sql(script, db=db, timeout=120)
            c.note(f"[{journal}] {COMMITS} commits of {PER_COMMIT} rows with the receiver down in "
                   f"{time.time() - t_start:.2f}s (exit {proc.returncode})")
            c.check(proc.returncode == 0 and not proc.stderr.strip(),
                    f"[{journal}] sqlite3 exited {proc.returncode}: every COMMIT must succeed; "
                    f"stderr: {proc.stderr.strip()[:600]}")
            stats = [l.split("|", 4) for l in proc.stdout.splitlines() if l.startswith("stats|")]
            c.check(len(stats) == COMMITS, f"[{journal}] expected {COMMITS} stats lines, got {stats}")
            oldest = min(ts for k, _, ts, _ in rows[journal] if k < COMMITS)
            for k, st in enumerate(stats):
                c.check(st[1] == str(PER_COMMIT * (k + 1)),
                        f"[{journal}] after commit {k + 1}: spool_rows {st[1]}, expected {PER_COMMIT * (k + 1)}")
                want_oldest = min(ts for kk, _, ts, _ in rows[journal] if kk <= k)
                c.check(st[2] == str(want_oldest),
                        f"[{journal}] after commit {k + 1}: spool_oldest_timestamp {st[2]}, expected {want_oldest}")
                c.check(st[3] == "0", f"[{journal}] after commit {k + 1}: samples_sent {st[3]}, expected 0")
            # (COMMIT does not wait for the network: the background drain tries on its own, so
            # last_error tells of the refused connection once it has tried)
            if stats:
                c.check(stats[-1][4] == "" or "Couldn't connect" in stats[-1][4],
                        f"[{journal}] last_error should be empty or tell of the refused connection, "
                        f"got {stats[-1][4]!r}")
            if stats:
                c.note(f"[{journal}] backlog after the last commit: spool_rows={stats[-1][1]}, "
                       f"spool_oldest_timestamp={stats[-1][2]}; last_error: {stats[-1][4]}")
            want_after = f"after vacuum|{COMMITS * PER_COMMIT}|{oldest}"
            c.check(want_after in proc.stdout.splitlines(),
                    f"[{journal}] after VACUUM expected {want_after!r}, stdout: {proc.stdout[-400:]!r}")
            c.check(f"journal|{journal}" in proc.stdout.splitlines(),
                    f"[{journal}] journal mode should be {journal}: {proc.stdout[-200:]!r}")

            # 2. the spool on disk, read by another process: every row, as stored requests
            batches, samples = read_spool(db)
            want = sum(1 for r in rows[journal] if r[0] < COMMITS)
            c.check(samples == want, f"[{journal}] spool holds {samples} samples in {batches} batches, "
                    f"expected {want}")

        # 3. the receiver comes back on the same port and data folder
        vm.start()
        for journal, db in dbs.items():
            name = f"psink_spool_outage_{journal}"
            script = f""".load {ext}
SELECT 'flushed', prometheus_sink_flush('m');
SELECT 'spool', coalesce(sum(rows), 0) FROM m_spool;
SELECT 'stats', samples_sent, spool_rows, last_error IS NULL FROM prometheus_sink_stats WHERE name = 'm';
"""
            t_start = time.time()
            proc = rt.run_sql(script, db=db, timeout=120)
            out = proc.stdout.splitlines()
            c.note(f"[{journal}] new sqlite3 process: {' ; '.join(out)} ({time.time() - t_start:.2f}s)")
            c.check(proc.returncode == 0, f"[{journal}] flush process exited {proc.returncode}: "
                    f"{proc.stderr.strip()[:600]}")
            total = COMMITS * PER_COMMIT
            c.check(f"flushed|{total}" in out, f"[{journal}] prometheus_sink_flush('m') should return {total}: {out}")
            c.check("spool|0" in out, f"[{journal}] spool should be empty after the flush: {out}")
            c.check(f"stats|{total}|0|1" in out, f"[{journal}] stats (samples_sent|spool_rows|no error) "
                    f"should be {total}|0|1: {out}")

            # 4. every row exactly once
            want = {(s, ts): v for k, s, ts, v in rows[journal] if k < COMMITS}
            got = export(url, name)
            stored, dups = check_delivery(c, f"[{journal}] after the flush", got, want)
            c.note(f"[{journal}] rows exported (committed while down): {len(want)}; samples read back: "
                   f"{stored}; distinct: {len(got)}; duplicates: {dups}")

            # 5. the next commit is delivered at COMMIT
            script = f""".load {ext}
{insert_chunk(COMMITS)}"""
            proc = rt.run_sql(script, db=db, timeout=120)
            c.check(proc.returncode == 0, f"[{journal}] last commit: sqlite3 exited {proc.returncode}: "
                    f"{proc.stderr.strip()[:600]}")
            # the background drain sends it; closing the connection waits for it
            con = sqlite3.connect(db)
            left = con.execute("SELECT coalesce(sum(rows), 0) FROM m_spool").fetchone()[0]
            con.close()
            c.check(left == 0, f"[{journal}] a commit with the receiver up should be delivered by the "
                    f"background drain before the process ends: {left} rows left")
            want = {(s, ts): v for k, s, ts, v in rows[journal]}
            got = export(url, name)
            stored, dups = check_delivery(c, f"[{journal}] after the last commit", got, want)
            c.note(f"[{journal}] after one more commit of {PER_COMMIT}: rows exported {len(want)}, "
                   f"samples read back {stored}, duplicates {dups}")
    finally:
        vm.cleanup()
        shutil.rmtree(work, ignore_errors=True)
    return c.finish()


if __name__ == "__main__":
    rt.run_test(body, servers=("victoria",))
