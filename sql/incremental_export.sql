-- Recipe: an incremental export whose high-water mark is the receiver's
-- own data. Each run sends only the readings newer than the newest sample
-- the receiver already holds, read back with prometheus_query(); nothing is
-- kept locally, so the mark survives a lost database and a second run
-- straight after the first sends nothing. Then it reconciles: the number
-- of samples per series, here and there, for the last day.
--
--   */5 * * * *  cd /srv/app && sqlite3 app.db < /srv/app/sql/incremental_export.sql
--
-- The window of the read-back ('[1d]') must reach back to the previous run:
-- a receiver with nothing in it gives no mark, and every reading is sent
-- (a receiver ignores a sample it already holds with the same value; one
-- older than it accepts is refused, and the run fails).
.load ./build/prometheus_sink
.bail on
CREATE TABLE IF NOT EXISTS readings(sensor TEXT, celsius REAL, ts INTEGER);

CREATE VIRTUAL TABLE temp.temps USING prometheus_sink(
  url = 'http://127.0.0.1:9090/api/v1/write',
  metric = 'sensor_celsius', sensor);

-- A range selector returns the raw samples; the newest timestamp is the mark.
INSERT INTO temps(sensor, value, timestamp)
  SELECT sensor, celsius, ts FROM readings
  WHERE ts > (SELECT coalesce(max(timestamp), -9223372036854775808)
              FROM prometheus_query('temps', 'sensor_celsius[1d]'))
  ORDER BY ts;

SELECT 'exported ' || samples_sent || ' readings' FROM prometheus_sink_stats WHERE name = 'temps';

-- Reconciliation: series whose sample count differs between the local
-- table and the receiver over the last day (none, after a good run).
SELECT 'differs: ' || here.labels || ' local ' || here.n || ', receiver ' || coalesce(there.n, 0)
  FROM (SELECT json_object('__name__', 'sensor_celsius', 'sensor', sensor) AS labels, count(*) AS n
          FROM readings WHERE ts > (unixepoch() - 86400) * 1000 GROUP BY 1) AS here
  LEFT JOIN (SELECT labels, count(*) AS n FROM prometheus_query('temps', 'sensor_celsius[1d]')
              GROUP BY labels) AS there USING (labels)
  WHERE here.n <> coalesce(there.n, 0);
SELECT 'reconciled ' || count(*) || ' series'
  FROM (SELECT DISTINCT labels FROM prometheus_query('temps', 'sensor_celsius[1d]'));
