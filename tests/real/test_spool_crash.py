"""Durable spool across a kill -9, against a real VictoriaMetrics 1.79.

A background sqlite3 process runs a large spooled export into a WAL-mode
database: CHUNKS transactions of ROWS rows each, every transaction also
inserting its chunk number into an ordinary `progress` table. Each COMMIT
drains the spool (batch_size=BATCH per request) while the next transactions
follow. Once `progress` (polled read-only from this process) shows at least
KILL_AFTER chunks and KILL_SECONDS have passed (or half the chunks are done,
on a fast machine), the process is killed with SIGKILL a random 0-50 ms
later: mid-way through the export, in a transaction or in a drain.

Then:
  - the spool holds rows of committed chunks only (read straight from the file);
  - a new sqlite3 process flushes the spool: prometheus_sink_flush('m') returns
    the number of rows that were waiting, and the spool is empty;
  - /api/v1/export: every row of every committed chunk is there (none missing),
    no row of an uncommitted chunk, values exact; duplicates (samples stored -
    distinct (series, ts)) only from the batches the drain had read and not
    yet removed at the kill: the requests in flight and queued (up to
    MAX_IN_FLIGHT shards, the default) and the rest of their batches, waiting
    in other shards' lanes; the drain keeps these under 4 x MAX_IN_FLIGHT x
    BATCH samples, each stored twice at most.
"""

import os
import random
import shutil
import signal
import sqlite3
import struct
import subprocess
import tempfile
import time

import realtest as rt

NAME = "psink_spool_crash"
CHUNKS, ROWS, BATCH, SERIES = 200, 1000, 250, 20
MAX_IN_FLIGHT = 8           # the sink's default
KILL_AFTER = 5              # chunks committed before the kill, at least
KILL_SECONDS = 1.5          # and seconds since the start (unless half the chunks are done)
PER_SERIES = ROWS // SERIES


def expected_row(chunk, i, t0):
    """(series, ts, value) of row i of chunk `chunk` (the same formula as the SQL below)."""
    return f"s{i % SERIES}", t0 + (chunk * PER_SERIES + i // SERIES) * 1000, chunk * 1000 + i + 0.5


def export(url, name):
    return rt.vm_export(url, name)


def progress(db):
    """Chunks committed so far, read without disturbing the writer (WAL)."""
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return [r[0] for r in con.execute("SELECT chunk FROM progress ORDER BY chunk")]
        finally:
            con.close()
    except sqlite3.Error:
        return None


def body(ext, root):
    c = rt.Checks("real_spool_crash")
    work = tempfile.mkdtemp(prefix="psink-real-spool-crash-")
    db = os.path.join(work, "crash.db")
    t0 = rt.now_ms() - 4 * 3600_000
    try:
        con = sqlite3.connect(db)
        con.execute("PRAGMA journal_mode = WAL")
        con.execute("CREATE TABLE progress(chunk INTEGER PRIMARY KEY)")
        con.commit()
        con.close()
        with rt.server("victoria", root) as url:
            lines = [f".load {ext}",
                     f"CREATE VIRTUAL TABLE m USING prometheus_sink(url={rt.q(url + '/api/v1/write')}, "
                     f"batch_size={BATCH}, retry=2, retry_backoff_multiplier_ms=20, spool=on);"]
            for k in range(CHUNKS):
                lines += ["BEGIN;",
                          f"INSERT INTO m SELECT json_object('__name__', '{NAME}', 'series', 's' || (value % {SERIES})), "
                          f"{k * 1000} + value + 0.5, {t0} + ({k * PER_SERIES} + value / {SERIES}) * 1000 "
                          f"FROM generate_series(0, {ROWS - 1});",
                          f"INSERT INTO progress VALUES ({k});",
                          "COMMIT;"]
            script_path = os.path.join(work, "export.sql")
            with open(script_path, "w") as f:
                f.write("\n".join(lines) + "\n")
            err_path = os.path.join(work, "stderr")
            with open(script_path) as src, open(os.devnull, "w") as out, open(err_path, "w") as err:
                proc = subprocess.Popen([rt.SQLITE3, "-batch", "-bail", db], stdin=src, stdout=out, stderr=err)
            t_start = time.time()
            done = []
            while time.time() - t_start < 120 and proc.poll() is None:
                done = progress(db) or []
                if len(done) >= CHUNKS // 2 or (len(done) >= KILL_AFTER and time.time() - t_start >= KILL_SECONDS):
                    break
                time.sleep(0.01)
            time.sleep(random.uniform(0, 0.05))     # anywhere in a transaction or in a drain
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
            proc.wait()
            elapsed = time.time() - t_start
            stderr = open(err_path).read().strip()
            c.note(f"sqlite3 killed after {elapsed:.2f}s (exit {proc.returncode}); progress seen before "
                   f"the kill: {len(done)} chunk(s)")
            c.check(proc.returncode == -signal.SIGKILL,
                    f"the export should have been killed mid-way, it ended with {proc.returncode}: {stderr[:600]}")
            c.check(not stderr, f"the export printed errors before the kill: {stderr[:600]}")

            # read (and recover) the file as the kill left it
            rw = sqlite3.connect(db, timeout=10)
            committed = [r[0] for r in rw.execute("SELECT chunk FROM progress ORDER BY chunk")]
            left = rw.execute("SELECT coalesce(sum(rows), 0) FROM m_spool").fetchone()[0]
            rw.close()
            c.check(committed == list(range(len(committed))),
                    f"committed chunks should be 0..n-1, got {committed[:10]}...")
            c.check(KILL_AFTER <= len(committed) < CHUNKS,
                    f"the kill should come mid-way: {len(committed)} of {CHUNKS} chunks committed")
            committed = set(committed)

            # the spool left behind holds no more than the committed rows (that it holds none of an
            # uncommitted chunk is checked below: none of their rows may reach the receiver)
            c.check(left <= len(committed) * ROWS,
                    f"the spool holds {left} rows, more than the {len(committed) * ROWS} committed")
            c.note(f"after the kill: {len(committed)} chunks committed ({len(committed) * ROWS} rows), "
                   f"{left} rows left in the spool")

            # a new process drains the spool
            proc2 = rt.run_sql(f".load {ext}\nSELECT 'flushed', prometheus_sink_flush('m');\n"
                               "SELECT 'spool', coalesce(sum(rows), 0) FROM m_spool;\n", db=db, timeout=120)
            out2 = proc2.stdout.splitlines()
            c.note(f"new sqlite3 process: {' ; '.join(out2)}")
            c.check(proc2.returncode == 0, f"flush process exited {proc2.returncode}: {proc2.stderr.strip()[:600]}")
            c.check(f"flushed|{left}" in out2, f"prometheus_sink_flush('m') should return {left}: {out2}")
            c.check("spool|0" in out2, f"the spool should be empty after the flush: {out2}")

            got = export(url, NAME)
            want = {}
            for k in committed:
                for i in range(ROWS):
                    s, ts, v = expected_row(k, i, t0)
                    want[(s, ts)] = v
            stored = sum(len(v) for v in got.values())
            dups = stored - len(got)
            missing = [key for key in want if key not in got]
            extra = [key for key in got if key not in want]
            c.check(not missing, f"{len(missing)} rows of committed chunks missing, e.g. {sorted(missing)[:3]}")
            extra_chunks = sorted({(ts - t0) // 1000 // PER_SERIES for _, ts in extra})
            c.check(not extra, f"{len(extra)} samples not of a committed chunk (chunks {extra_chunks[:10]}), "
                    f"e.g. {sorted(extra)[:3]}")
            bad = [(key, want[key], vs) for key, vs in got.items() if key in want and any(v != want[key] for v in vs)]
            c.check(not bad, f"{len(bad)} samples with a wrong value (sent, got), e.g. {bad[:3]}")
            dup_keys = [key for key, vs in got.items() if len(vs) > 1]
            dup_chunks = sorted({(ts - t0) // 1000 // PER_SERIES for _, ts in dup_keys})
            c.check(dups <= 4 * MAX_IN_FLIGHT * BATCH,
                    f"{dups} duplicate samples: more than the drain reads ahead "
                    f"(4 x {MAX_IN_FLIGHT} x batch_size={BATCH})")
            c.check(all(len(got[k]) == 2 for k in dup_keys),
                    f"a sample stored more than twice: {[(k, got[k]) for k in dup_keys if len(got[k]) > 2][:3]}")
            c.note(f"rows exported (committed): {len(want)}; samples read back: {stored}; distinct: "
                   f"{len(got)}; duplicates: {dups}" + (f" (chunk {dup_chunks})" if dup_chunks else "")
                   + f"; uncommitted chunks: {CHUNKS - len(committed)}, none of their rows read back: "
                   f"{not extra}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return c.finish()


if __name__ == "__main__":
    rt.run_test(body, servers=("victoria",))
