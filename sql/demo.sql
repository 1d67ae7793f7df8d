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

-- Read back through SQL: prometheus_query() runs a PromQL query with the
-- sink's connection settings (its endpoint derived from the sink's url).
-- A range selector returns the raw samples, one row each: labels as
-- canonical JSON, timestamp in ms, value as the exact double.
CREATE TEMP TABLE returned AS
  SELECT json_extract(labels, '$.__name__') AS metric, json_extract(labels, '$.room') AS room,
         timestamp AS ts, value
  FROM prometheus_query('metrics', '{__name__=~"demo_room_.*"}[1h]');
CREATE TEMP VIEW sent(metric, room, ts, value) AS
  SELECT 'demo_room_temperature_celsius', room, ts, celsius FROM readings
  UNION ALL
  SELECT 'demo_room_humidity_percent', room, ts, humidity FROM readings;
CREATE TEMP VIEW compared AS
  SELECT s.*, r.value AS returned, r.value IS s.value AS same
  FROM sent AS s LEFT JOIN returned AS r USING (metric, room, ts);

SELECT c.room, time(c.ts / 1000, 'unixepoch') AS "time (UTC)",
       c.value AS "°C sent", coalesce(c.returned, 'MISSING') AS "°C in Prometheus",
       h.value AS "%RH sent", coalesce(h.returned, 'MISSING') AS "%RH in Prometheus"
FROM compared AS c JOIN compared AS h
  ON h.room = c.room AND h.ts = c.ts AND h.metric = 'demo_room_humidity_percent'
WHERE c.metric = 'demo_room_temperature_celsius'
ORDER BY c.room, c.ts;

-- And an aggregation: the number of series per metric, as Prometheus counts them.
SELECT json_extract(labels, '$.__name__') AS metric, value AS series
FROM prometheus_query('metrics', 'count by (__name__) ({__name__=~"demo_room_.*"})')
ORDER BY 1;

.headers off
.mode list
SELECT CASE WHEN sum(same) = count(*) AND (SELECT count(*) FROM returned) = count(*)
            THEN 'verdict: every exported value came back: ' || count(*) || ' of ' || count(*) ||
                 ' samples, same timestamps and values'
            ELSE 'verdict: MISMATCH: ' || coalesce(sum(same), 0) || ' of ' || count(*) ||
                 ' exported samples came back unchanged (' || (SELECT count(*) FROM returned) || ' returned)'
       END
FROM compared;
