"""Durable spool and database locks: the drain after COMMIT runs on a second
connection to the same file, so it competes for the file's locks with the
sink's own connection and with other processes. None of that may leave the
database locked, or make the sink's own next statements fail.

The receiver is a stub (python http.server answering 204 to every POST, with
no decoding): what matters here is only when it answers. The sink's connection
is driven in this process through the C API (ctypes on libsqlite3, since
Python's sqlite3 module cannot load extensions here), so that statements can
be interleaved precisely; a reader and a third process use Python's sqlite3
and the sqlite3 shell.

1. A reader elsewhere (rollback-journal database) holds a read transaction
   while the drain waits for the receiver, and for longer than the drain's
   busy timeout (5 s): the drain cannot remove the delivered row (it may be
   sent again later: at-least-once). Once the reader is gone, the database
   must be usable again: the sink's connection reads and writes, another
   process reads and writes, the next COMMIT drains, the spool ends empty.
2. The sink's own connection writes a row into the sink for each row of a
   SELECT it is still stepping through (autocommit INSERTs while a cursor is
   open: a common application loop), in a rollback-journal and in a WAL
   database: every INSERT must succeed, none may stall for the busy timeout,
   and after the loop a flush empties the spool.
"""

import ctypes
import ctypes.util
import http.server
import os
import shutil
import sqlite3
import subprocess
import tempfile
import threading
import time

import realtest as rt

SQLITE_OK, SQLITE_ROW, SQLITE_DONE = 0, 100, 101


class Receiver:
    """Answers 204 to every POST; with hold_first, the first request waits for go.set()."""

    def __init__(self):
        self.requests = 0
        self.arrived = threading.Event()
        self.go = threading.Event()
        self.hold_first = False
        recv = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                recv.requests += 1
                if recv.hold_first and recv.requests == 1:
                    recv.arrived.set()
                    recv.go.wait(30)
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/v1/write"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.go.set()
        self.server.shutdown()
        self.server.server_close()


class CApi:
    """A sqlite3 connection through the C API, able to load the extension."""

    lib = None

    @classmethod
    def load(cls):
        if cls.lib is None:
            lib = ctypes.CDLL(ctypes.util.find_library("sqlite3") or "libsqlite3.so.0")
            vp, cp = ctypes.c_void_p, ctypes.c_char_p
            lib.sqlite3_open.argtypes = [cp, ctypes.POINTER(vp)]
            lib.sqlite3_close_v2.argtypes = [vp]
            lib.sqlite3_enable_load_extension.argtypes = [vp, ctypes.c_int]
            lib.sqlite3_load_extension.argtypes = [vp, cp, cp, ctypes.POINTER(cp)]
            lib.sqlite3_prepare_v2.argtypes = [vp, cp, ctypes.c_int, ctypes.POINTER(vp), vp]
            lib.sqlite3_step.argtypes = [vp]
            lib.sqlite3_finalize.argtypes = [vp]
            lib.sqlite3_errmsg.argtypes = [vp]
            lib.sqlite3_errmsg.restype = cp
            lib.sqlite3_column_count.argtypes = [vp]
            lib.sqlite3_column_text.argtypes = [vp, ctypes.c_int]
            lib.sqlite3_column_text.restype = cp
            cls.lib = lib
        return cls.lib

    def __init__(self, path, ext):
        lib = self.load()
        self.db = ctypes.c_void_p()
        if lib.sqlite3_open(path.encode(), ctypes.byref(self.db)) != SQLITE_OK:
            raise RuntimeError(f"cannot open {path}")
        lib.sqlite3_enable_load_extension(self.db, 1)
        err = ctypes.c_char_p()
        if lib.sqlite3_load_extension(self.db, ext.encode(), None, ctypes.byref(err)) != SQLITE_OK:
            raise RuntimeError(f"cannot load {ext}: {err.value}")

    def prepare(self, sql):
        stmt = ctypes.c_void_p()
        rc = self.lib.sqlite3_prepare_v2(self.db, sql.encode(), -1, ctypes.byref(stmt), None)
        if rc != SQLITE_OK:
            return None, self.lib.sqlite3_errmsg(self.db).decode()
        return stmt, None

    def step(self, stmt):
        """(rc, row as a list of text or None)."""
        rc = self.lib.sqlite3_step(stmt)
        if rc != SQLITE_ROW:
            return rc, None
        n = self.lib.sqlite3_column_count(stmt)
        return rc, [(v.decode() if v is not None else None)
                    for v in (self.lib.sqlite3_column_text(stmt, i) for i in range(n))]

    def run(self, sql):
        """Runs one statement to its end: (rows, error message or None)."""
        stmt, err = self.prepare(sql)
        if err:
            return [], err
        rows = []
        try:
            while True:
                rc, row = self.step(stmt)
                if rc == SQLITE_ROW:
                    rows.append(row)
                elif rc == SQLITE_DONE:
                    return rows, None
                else:
                    return rows, f"{self.lib.sqlite3_errmsg(self.db).decode()} ({rc})"
        finally:
            self.lib.sqlite3_finalize(stmt)

    def finalize(self, stmt):
        self.lib.sqlite3_finalize(stmt)

    def close(self):
        self.lib.sqlite3_close_v2(self.db)


def sink_sql(url):
    return f"CREATE VIRTUAL TABLE m USING prometheus_sink(url={rt.q(url)}, retry=0, spool=on)"


def row_sql(i):
    return f"INSERT INTO m VALUES (json_object('__name__', 'psink_spool_lock'), {i}, {1700000000000 + i * 1000})"


def part_reader(c, ext, work):
    """1. A reader elsewhere outlasts the drain's busy timeout."""
    db = os.path.join(work, "reader.db")
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE other(x)")
    con.commit()
    con.close()
    recv = Receiver()
    a = CApi(db, ext)
    try:
        _, err = a.run(sink_sql(recv.url))
        c.check(err is None, f"[reader] CREATE VIRTUAL TABLE: {err}")
        recv.hold_first = True
        release = threading.Event()
        state = {}

        def reader():
            if not recv.arrived.wait(30):
                state["error"] = "the drain's request never arrived"
                recv.go.set()
                return
            r = sqlite3.connect(db, isolation_level=None, timeout=0)
            r.execute("BEGIN")
            r.execute("SELECT count(*) FROM other").fetchall()     # SHARED lock held
            recv.go.set()                                           # now the receiver answers
            release.wait(60)
            r.execute("COMMIT")
            r.close()

        b = threading.Thread(target=reader)
        b.start()
        t = time.time()
        _, err = a.run(row_sql(1))            # COMMIT, then the drain: send, wait for the reader...
        took = time.time() - t
        release.set()
        b.join()
        c.check("error" not in state, f"[reader] {state.get('error')}")
        c.check(err is None, f"[reader] the autocommit INSERT must succeed (its rows are durable): {err}")
        c.note(f"[reader] INSERT with a reader holding the file during the drain took {took:.2f}s; "
               f"error: {err}")

        # the reader is gone: everything must work again
        rows, err = a.run("SELECT count(*) FROM m_spool")
        c.check(err is None, f"[reader] the sink's connection cannot read the spool any more: {err}")
        c.note(f"[reader] spool rows as the sink's connection sees them: {rows}, error: {err}")
        stats, err2 = a.run("SELECT spool_rows, last_error FROM prometheus_sink_stats")
        c.note(f"[reader] stats (spool_rows, last_error): {stats} {err2 or ''}")
        # (with a busy timeout: the background drain may hold a lock for a moment, but never
        # for long)
        proc = rt.run_sql(".timeout 10000\nSELECT 'C reads', count(*) FROM other;\nINSERT INTO other VALUES (2);\n"
                          "SELECT 'C wrote', count(*) FROM other;\n", db=db, timeout=30)
        c.check(proc.returncode == 0 and "C wrote|1" in proc.stdout,
                f"[reader] another process cannot use the database while the sink's connection lives: "
                f"exit {proc.returncode}, {proc.stdout.strip()!r} {proc.stderr.strip()!r}")
        _, err = a.run("INSERT INTO other VALUES (3)")
        c.check(err is None, f"[reader] the sink's connection cannot write an ordinary table: {err}")
        _, err = a.run(row_sql(2))
        c.check(err is None, f"[reader] the next INSERT into the sink fails: {err}")
        rows, err = a.run("SELECT prometheus_sink_flush('m')")
        c.check(err is None, f"[reader] prometheus_sink_flush('m') fails: {err}")
        a.close()
        a = None
        con = sqlite3.connect(db, timeout=0)
        left = con.execute("SELECT count(*) FROM m_spool").fetchone()[0]
        con.close()
        c.check(left == 0, f"[reader] {left} row(s) left in the spool after the connection closed")
        c.note(f"[reader] receiver requests: {recv.requests}; rows left in the spool after close: {left}")
    finally:
        if a is not None:
            a.close()
        recv.close()


def part_cursor(c, ext, work, journal):
    """2. INSERTs into the sink while the same connection steps through a SELECT."""
    db = os.path.join(work, f"cursor-{journal}.db")
    con = sqlite3.connect(db)
    con.execute(f"PRAGMA journal_mode = {journal}")
    con.execute("CREATE TABLE src(i)")
    con.executemany("INSERT INTO src VALUES (?)", [(i,) for i in range(5)])
    con.commit()
    con.close()
    recv = Receiver()
    a = CApi(db, ext)
    try:
        _, err = a.run(sink_sql(recv.url))
        c.check(err is None, f"[cursor {journal}] CREATE VIRTUAL TABLE: {err}")
        cur, err = a.prepare("SELECT i FROM src ORDER BY i")
        results = []
        while True:
            rc, row = a.step(cur)
            if rc != SQLITE_ROW:
                break
            t = time.time()
            _, err = a.run(row_sql(int(row[0])))
            results.append((int(row[0]), err, time.time() - t))
        a.finalize(cur)
        failed = [(i, e) for i, e, _ in results if e]
        slow = [(i, round(s, 2)) for i, _, s in results if s > 2]
        c.check(len(results) == 5, f"[cursor {journal}] the SELECT stopped after {len(results)} rows")
        c.check(not failed, f"[cursor {journal}] INSERT into the sink failed while a SELECT of the same "
                f"connection was open: {failed}")
        c.check(not slow, f"[cursor {journal}] INSERTs stalled (s) while a SELECT was open: {slow}")
        rows, err = a.run("SELECT prometheus_sink_flush('m')")
        c.check(err is None, f"[cursor {journal}] flush after the loop fails: {err}")
        rows, err = a.run("SELECT count(*) FROM m_spool")
        c.check(err is None and rows == [["0"]], f"[cursor {journal}] spool after the flush: {rows} {err or ''}")
        c.note(f"[cursor {journal}] per-row INSERT (row, error, seconds): "
               f"{[(i, e, round(s, 2)) for i, e, s in results]}; receiver requests: {recv.requests}")
    finally:
        a.close()
        recv.close()


def body(ext, root):
    c = rt.Checks("real_spool_lock")
    work = tempfile.mkdtemp(prefix="psink-real-spool-lock-")
    try:
        part_reader(c, ext, work)
        for journal in ("delete", "wal"):
            part_cursor(c, ext, work, journal)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return c.finish()


if __name__ == "__main__":
    rt.run_test(body)
