"""A real VictoriaMetrics 1.79 restarted in the middle of a large export.

One autocommit statement exports 3,000,000 rows through the sqlite3 shell:
  INSERT INTO sink SELECT json_object(...), value, t0 + value FROM generate_series(1, 3000000)
with batch_size=10000, max_in_flight=1, retry=10, retry_backoff_multiplier_ms=200 and
retry_backoff_max_ms=5000, so that the retries (0.2 + 0.4 + 0.8 + 1.6 + 3.2 + 5
+ ... s) outlast the outage. About 0.4 s into the export (under half of it on
this machine: the whole 3,000,000 rows have taken 0.9 s, so a stop at 1 s came
after the end; VictoriaMetrics' own row counter lags by about a second, so it
cannot time the stop) the server is stopped
(scripts/victoria.sh stop: SIGTERM, clean shutdown), and about 2 s later it is
started again on the same port and data folder
(VICTORIA_PORT=... scripts/victoria.sh start DIR).

Then either
  - the statement succeeded: prometheus_sink_stats says 3,000,000 samples
    sent, and VictoriaMetrics (/internal/force_flush, /api/v1/export) holds
    every row, each (series, timestamp) exactly once, with its exact value; or
  - the statement failed: its message says how many samples were delivered
    before the failure (N); VictoriaMetrics holds those N rows (plus at most
    the one request in flight whose answer may have been lost), each once,
    and nothing that was not exported.
Whichever happened is asserted, and the figures are printed: rows, stored,
duplicates, missing, retries, the timeline of the restart.

A request that reached the server but whose answer was lost when it stopped
is retried and stored twice (VictoriaMetrics keeps identical samples without
-dedup.minScrapeInterval): the sink cannot tell such a request from one that
never arrived. Duplicates are counted per (series, timestamp) and reported;
the check requires none ("exactly once"), so a run that hits that window
fails and says so.
"""

import re
import subprocess
import threading
import time

import realtest as rt

NAME = "psink_restart"
ROWS, SERIES, BATCH = 3_000_000, 50, 10_000
STOP_AFTER_S, DOWN_FOR_S = 0.4, 2.0
# One request at a time (max_in_flight=1): the checks below count on at most
# one request in flight at the stop; concurrent shards are the concurrency
# suite's (tests/integration/delivery_test.cc).
SINK_OPTIONS = (f"batch_size={BATCH}, max_in_flight=1, retry=10, retry_backoff_multiplier_ms=200, "
                "retry_backoff_max_ms=5000")
DELIVERED = re.compile(r"delivered in this transaction before the failure: (\d+) samples?")


def Victoria(root):
    return rt.RestartableVictoria(root, prefix="psink-real-restart-vm-")


def rows_received(url):
    """Rows VictoriaMetrics has accepted over remote write since it started (its /metrics)."""
    try:
        text = rt.http_get(url, "/metrics", timeout=5)
    except Exception as e:  # noqa: BLE001 - only a figure for the log
        return f"? ({e})"
    m = re.search(r'^vm_rows_inserted_total\{type="promremotewrite"\} (\d+)', text, re.M)
    return int(m.group(1)) if m else "?"


def export_counts(url):
    """{(series, ts): [values...]} of every raw sample VictoriaMetrics holds for NAME."""
    return rt.vm_export(url, NAME)


def expected_sample(series, ts, t0):
    """(value) of the exported row with this series and timestamp, or None when none was exported."""
    i = ts - t0
    if not 1 <= i <= ROWS or series != f"s{i % SERIES:02d}":
        return None
    return float(i)


def body(ext, root):
    c = rt.Checks("real_restart_mid_export")
    vm = Victoria(root)
    try:
        url = vm.start()
        c.note(f"VictoriaMetrics at {url}")
        t0 = rt.now_ms() - 3 * 3600_000
        script = f"""
.load {ext}
CREATE VIRTUAL TABLE temp.sink USING prometheus_sink(url={rt.q(url + '/api/v1/write')}, {SINK_OPTIONS});
INSERT INTO sink SELECT json_object('__name__', '{NAME}', 'series', printf('s%02d', value % {SERIES})),
                        value, {t0} + value
  FROM generate_series(1, {ROWS});
SELECT 'stats', samples_sent, requests, retries, failures, rows_buffered, last_status,
       coalesce(last_error, '') FROM prometheus_sink_stats;
"""
        result = {}

        def run():
            start = time.monotonic()
            # No -bail: the stats are printed whether the INSERT succeeded or not.
            proc = subprocess.run([rt.SQLITE3, "-batch", ":memory:"], input=script, capture_output=True,
                                  text=True, timeout=240)
            result["proc"] = proc
            result["end"] = time.monotonic() - start

        t_start = time.monotonic()
        worker = threading.Thread(target=run)
        worker.start()
        time.sleep(STOP_AFTER_S)
        still_running = worker.is_alive()
        received_before_stop = rows_received(url)
        t_stop = time.monotonic() - t_start
        vm.stop()
        t_stopped = time.monotonic() - t_start
        time.sleep(DOWN_FOR_S)
        t_restart = time.monotonic() - t_start
        vm.start()
        t_up = time.monotonic() - t_start
        worker.join(timeout=300)
        if not c.check("proc" in result, "the sqlite3 export did not finish within 300 s"):
            return c.finish()
        proc, t_end = result["proc"], result["end"]
        c.note(f"timeline (s from the export's start): stop at {t_stop:.2f} (VictoriaMetrics had received "
               f"{received_before_stop} rows), stopped at {t_stopped:.2f}, start at {t_restart:.2f}, "
               f"up at {t_up:.2f}; the statement ended at {t_end:.2f} (exit {proc.returncode})")
        c.check(still_running, f"the export ended within {STOP_AFTER_S} s, before the restart: "
                "nothing was tested (the machine is too fast for this many rows?)")

        stats = [l.split("|") for l in proc.stdout.splitlines() if l.startswith("stats|")]
        if not c.check(len(stats) == 1, f"expected one stats line, got {proc.stdout!r}"):
            return c.finish()
        _, sent, requests, retries, failures, buffered, last_status, last_error = stats[0][:8]
        sent, requests, retries, failures = int(sent), int(requests), int(retries), int(failures)
        c.note(f"stats: samples_sent={sent} requests={requests} retries={retries} failures={failures} "
               f"rows_buffered={buffered} last_status={last_status} last_error={last_error!r}")
        errors = rt.shell_errors(proc.stderr)
        succeeded = not errors

        # A restarted VictoriaMetrics can take a while before everything it
        # acknowledged is searchable: read until the count stops short of
        # nothing, for at most 60 s, and say how long it took.
        wait_start = time.monotonic()
        got = export_counts(url)
        while len(got) < ROWS and time.monotonic() - wait_start < 60:
            time.sleep(2)
            got = export_counts(url)
        c.note(f"read back after {time.monotonic() - wait_start:.1f} s of waiting for VictoriaMetrics")
        stored = sum(len(v) for v in got.values())
        distinct = len(got)
        duplicates = sum(len(v) - 1 for v in got.values() if len(v) > 1)
        dup_keys = sorted(k for k, v in got.items() if len(v) > 1)
        unexpected = [k for k in got if expected_sample(k[0], k[1], t0) is None]
        wrong_values = [(k, v) for k, v in got.items()
                        if expected_sample(k[0], k[1], t0) is not None
                        and any(float(x) != expected_sample(k[0], k[1], t0) for x in v)]
        c.note(f"rows={ROWS} stored={stored} distinct={distinct} duplicates={duplicates} "
               f"unexpected={len(unexpected)} wrong_values={len(wrong_values)}")
        if dup_keys:
            rows_dup = sorted(k[1] - t0 for k in dup_keys)
            c.note(f"duplicated rows: {len(dup_keys)} (series, ts) keys, row numbers {rows_dup[0]} .. "
                   f"{rows_dup[-1]} (a request whose answer was lost in the restart, sent again)")
        c.check(retries > 0, f"no retry happened (retries={retries}): the restart did not hit the export")
        c.check(not unexpected, f"{len(unexpected)} stored samples were never exported, e.g. {unexpected[:3]}")
        c.check(not wrong_values, f"{len(wrong_values)} samples with a wrong value, e.g. {wrong_values[:3]}")
        c.check(duplicates == 0, f"{duplicates} samples stored twice (in {len(dup_keys)} (series, ts) keys): "
                "not exactly once")

        if succeeded:
            c.note("outcome: the statement succeeded")
            c.check(proc.returncode == 0, f"sqlite3 exited {proc.returncode}")
            c.check(sent == ROWS, f"samples_sent={sent}, want {ROWS}")
            c.check(failures == 0, f"failures={failures}, want 0")
            c.check(buffered == "0", f"rows_buffered={buffered}, want 0")
            c.check(distinct == ROWS, f"VictoriaMetrics holds {distinct} distinct samples, want {ROWS} "
                    f"({ROWS - distinct} missing)")
        else:
            msg = errors[0][1]
            c.note(f"outcome: the statement failed: {msg}")
            c.check(msg.startswith("prometheus_sink:"), f"the message does not start with prometheus_sink: {msg!r}")
            m = DELIVERED.search(msg)
            if c.check(m is not None, f"the message does not say how many samples were delivered: {msg!r}"):
                delivered = int(m.group(1))
                c.note(f"delivered per the message: {delivered}; stored: {distinct} distinct")
                c.check(delivered == sent, f"the message says {delivered} delivered, samples_sent says {sent}")
                c.check(delivered % BATCH == 0, f"{delivered} delivered is not a whole number of batches")
                # What was acknowledged is stored; at most the request in flight
                # at the failure may be stored without an acknowledgement.
                c.check(delivered <= distinct <= delivered + BATCH,
                        f"VictoriaMetrics holds {distinct} distinct samples, the message says {delivered} "
                        f"were delivered (at most {BATCH} more may have arrived unacknowledged)")
    finally:
        vm.cleanup()
    return c.finish()


if __name__ == "__main__":
    rt.run_test(body, servers=("victoria",))
