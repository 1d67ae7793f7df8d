-- Recipe: export a table of readings in wide form — no JSON at all.
-- Bare names in CREATE VIRTUAL TABLE declare label columns, `metric` gives
-- __name__, `external_labels` adds fixed labels. This is the fastest path.
--
--   sqlite3 readings.db < sql/wide_export.sql
.load ./build/prometheus_sink
.bail on
-- sample data (use your own table instead): the last 30 minutes, one reading a minute
CREATE TABLE IF NOT EXISTS readings(room TEXT, sensor TEXT, celsius REAL, ts INTEGER);
INSERT INTO readings
  SELECT room, 'dht22', 20 + (m % 7) * 0.25 + length(room) * 0.1,
         (CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) / 60000 - 30 + m) * 60000
  FROM (SELECT value AS m FROM generate_series(0, 29)), (SELECT 'kitchen' AS room UNION ALL SELECT 'office')
  WHERE NOT EXISTS (SELECT 1 FROM readings);

CREATE VIRTUAL TABLE temp.temperature USING prometheus_sink(
  url = 'http://127.0.0.1:9090/api/v1/write',
  metric = 'room_temperature_celsius',
  room, sensor,
  external_labels = '{"site": "home"}');

INSERT INTO temperature(room, sensor, value, timestamp)
  SELECT room, sensor, celsius, ts FROM readings ORDER BY ts;

SELECT 'exported ' || samples_sent || ' samples' FROM prometheus_sink_stats WHERE name = 'temperature';
