-- prometheus_sink demo: export room readings from an ordinary SQLite table to
-- Prometheus with one INSERT ... SELECT.
--
-- scripts/demo.sh runs this file through the stock sqlite3 shell after loading
-- the extension and creating the sink with the URL of the Prometheus it started:
--
--   sqlite3 demo.db \
--     -cmd ".load ./build/prometheus_sink" \
--     -cmd "CREATE VIRTUAL TABLE temp.metrics USING prometheus_sink(
--              url='http://127.0.0.1:9090/api/v1/write', batch_size=100)" \
--     < sql/demo.sql
--
-- (The sink's columns are labels, value, timestamp.) Running it again is fine:
-- the readings are rebuilt, stamped relative to now.

.bail on
.headers on
.mode box

SELECT prometheus_sink_version() AS prometheus_sink_version;

-- Six readings per room, every five minutes up to the current minute (ms
-- since the epoch). Two metrics per reading: temperature and humidity.
DROP TABLE IF EXISTS readings;
CREATE TABLE readings(room TEXT, ts INTEGER, celsius REAL, humidity REAL);
WITH rooms(room, base_c, base_h) AS (
       VALUES ('kitchen', 21.5, 48.0), ('bedroom', 19.0, 52.5), ('office', 22.25, 41.0)),
     steps(n) AS (VALUES (0), (1), (2), (3), (4), (5)),
     now_minute(ms) AS (SELECT (unixepoch('now') / 60) * 60 * 1000)
INSERT INTO readings
  SELECT room, ms - (25 - 5 * n) * 60000, base_c + 0.25 * n - 0.5 * (n % 2), base_h - 0.5 * n
  FROM rooms, steps, now_minute
  ORDER BY 2, 1;

SELECT room, datetime(ts / 1000, 'unixepoch') AS time_utc, celsius, humidity
FROM readings ORDER BY room, ts;

-- The export: one sample per metric and reading. Labels are a JSON object that
-- names the metric in __name__; the timestamp is in milliseconds (the default
-- timestamp_unit). Everything is sent when the statement ends; an error from
-- Prometheus would fail the INSERT (and a COMMIT, inside BEGIN ... COMMIT).
INSERT INTO metrics(labels, value, timestamp)
  SELECT json_object('__name__', 'demo_room_temperature_celsius', 'room', room), celsius, ts
  FROM readings
  UNION ALL
  SELECT json_object('__name__', 'demo_room_humidity_percent', 'room', room), humidity, ts
  FROM readings
  ORDER BY 3;

-- What the sink did: one request (36 samples < batch_size), acknowledged by a 2xx.
SELECT name, samples_sent, requests, bytes_sent, retries, failures, last_status
FROM prometheus_sink_stats;
