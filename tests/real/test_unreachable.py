"""A receiver that is down: a sink pointed at a closed loopback port (nothing
listens there) with retry=1. The outbox recipe
  BEGIN; INSERT INTO sink SELECT ... FROM outbox; DELETE FROM outbox; COMMIT;
must fail at COMMIT with an error starting with 'prometheus_sink:' and leave
every outbox row in place: checked in the same session right after the
failure, and again from a fresh sqlite3 process reading the database file.
An autocommit INSERT into the same sink fails the same way.
"""

import os
import shutil
import tempfile
import time

import realtest as rt

ROWS = 25


def body(ext, root):
    c = rt.Checks("real_unreachable")
    work = tempfile.mkdtemp(prefix="psink-real-down-")
    db = os.path.join(work, "outbox.db")
    try:
        now = rt.now_ms()
        rt.make_table_db(db, "CREATE TABLE outbox(name TEXT, v REAL, ts INTEGER)",
                         [(f"job{i % 5}", i * 1.5, now - (ROWS - i) * 1000) for i in range(ROWS)])
        port = rt.free_port()        # bound and released: connecting is refused
        url = f"http://127.0.0.1:{port}/api/v1/write"
        script = f"""
.load {ext}
CREATE VIRTUAL TABLE temp.sink USING prometheus_sink(url={rt.q(url)}, retry=1,
    retry_backoff_multiplier_ms=10, connect_timeout_ms=2000, socket_timeout_ms=5000);
BEGIN;
INSERT INTO sink SELECT json_object('__name__', 'psink_real_down', 'job', name), v, ts FROM outbox;
DELETE FROM outbox;
COMMIT;
SELECT 'after_commit', count(*) FROM outbox;
INSERT INTO sink VALUES (json_object('__name__', 'psink_real_down', 'job', 'single'), 1, NULL);
SELECT 'after_insert', count(*) FROM outbox;
"""
        t_start = time.time()
        # No -bail: the shell reports each error and goes on with the script.
        proc = rt.run_sql(script, db=db, bail=False, timeout=120)
        elapsed = time.time() - t_start
        c.note(f"sqlite3 ran the outbox transaction against 127.0.0.1:{port} (closed) in {elapsed:.2f}s")

        # Two errors expected: the COMMIT and the autocommit INSERT, in that order.
        lines = script.split("\n")
        commit_line = lines.index("COMMIT;") + 1
        insert_line = next(i for i, l in enumerate(lines) if l.startswith("INSERT INTO sink VALUES")) + 1
        messages = rt.shell_errors(proc.stderr)
        c.check([n for n, _ in messages] == [commit_line, insert_line],
                f"expected errors at lines {commit_line} (COMMIT) and {insert_line} (autocommit INSERT), "
                f"got {messages}")
        for what, line_no in (("COMMIT", commit_line), ("autocommit INSERT", insert_line)):
            errs = [m for n, m in messages if n == line_no]
            if c.check(len(errs) == 1, f"{what}: expected one error at line {line_no}, got {errs}"):
                c.check(errs[0].startswith("prometheus_sink:"),
                        f"{what}: error should start with 'prometheus_sink:', got {errs[0]!r}")
                c.note(f"{what} failed with: {errs[0]}")

        after = [l for l in proc.stdout.splitlines() if l.startswith("after_")]
        c.check(f"after_commit|{ROWS}" in after,
                f"outbox should still hold {ROWS} rows right after the failed COMMIT; stdout: {after}")
        c.check(f"after_insert|{ROWS}" in after,
                f"outbox should still hold {ROWS} rows at the end of the session; stdout: {after}")

        # A fresh process sees the file as it was: the DELETE was rolled back, not committed.
        check = rt.run_sql("SELECT count(*), min(v), max(v) FROM outbox;\n", db=db)
        want = f"{ROWS}|0.0|{(ROWS - 1) * 1.5}"
        c.check(check.returncode == 0 and check.stdout.strip() == want,
                f"fresh sqlite3 on {db}: expected {want!r}, got {check.stdout.strip()!r} {check.stderr.strip()!r}")
        c.note(f"fresh sqlite3 process: outbox count|min|max = {check.stdout.strip()}")
        c.check(elapsed < 30, f"a refused connection with retry=1 should fail fast, took {elapsed:.1f}s")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return c.finish()


if __name__ == "__main__":
    rt.run_test(body)
