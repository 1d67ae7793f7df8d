-- Recipe: backfill history. Send each series in timestamp order (ORDER BY
-- the timestamp): a receiver refuses a sample older than one it already has
-- for the series, unless it allows out-of-order data.
--
-- What the receiver must allow for old data:
--  * Prometheus accepts samples older than its head block (about the last
--    one to three hours) only with an out-of-order window in its config:
--      storage: { tsdb: { out_of_order_time_window: 30d } }
--    Without it, old samples are refused ("out of bounds" / "too old"), and
--    the COMMIT fails with that message.
--  * VictoriaMetrics accepts anything inside -retentionPeriod (default 1
--    month) and silently drops what is older: set it long enough.
--
--   sqlite3 history.db < sql/backfill.sql
.load ./build/prometheus_sink
.bail on
-- sample data: 6 hours of one-minute samples for 3 hosts, ending now
CREATE TABLE IF NOT EXISTS history(host TEXT, load REAL, ts INTEGER);
INSERT INTO history
  SELECT 'host' || k.value, round(((g.value * 7 + k.value * 13) % 400) / 100.0, 2),
         (CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) / 60000 - 360 + g.value) * 60000
  FROM generate_series(0, 359) AS g, generate_series(1, 3) AS k
  WHERE NOT EXISTS (SELECT 1 FROM history);

CREATE VIRTUAL TABLE temp.load USING prometheus_sink(
  url = 'http://127.0.0.1:9090/api/v1/write',
  metric = 'node_load1', host,
  batch_size = 5000);

-- One transaction: either the whole history is accepted, or the COMMIT
-- fails and says which batch the receiver refused.
BEGIN;
INSERT INTO load(host, value, timestamp) SELECT host, load, ts FROM history ORDER BY ts;
COMMIT;

SELECT 'backfilled ' || samples_sent || ' samples in ' || requests || ' requests' FROM prometheus_sink_stats;
