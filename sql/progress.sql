-- Recipe: watch a long export with prometheus_sink_stats. A connection runs
-- one statement at a time, so export in slices (here: one hour each) and
-- look at the counters between them; a failed slice stops the script
-- (.bail on) with the receiver's message, and last_error keeps it.
.load ./build/prometheus_sink
.bail on
.mode box
-- sample data: 3 hours of 10-second samples for 20 pumps
CREATE TABLE IF NOT EXISTS flow(pump TEXT, litres REAL, ts INTEGER);
INSERT INTO flow
  SELECT 'p' || k.value, (g.value % 97) * 0.5,
         (CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) / 10000 - 1080 + g.value) * 10000
  FROM generate_series(0, 1079) AS g, generate_series(1, 20) AS k
  WHERE NOT EXISTS (SELECT 1 FROM flow);

CREATE VIRTUAL TABLE temp.pumps USING prometheus_sink(
  url = 'http://127.0.0.1:9090/api/v1/write', metric = 'pump_flow_litres', pump, batch_size = 2000);

CREATE TEMP VIEW progress AS
  SELECT name, rows_buffered, samples_sent, requests, retries, failures, last_status, last_error
  FROM prometheus_sink_stats;

INSERT INTO pumps(pump, value, timestamp) SELECT pump, litres, ts FROM flow
  WHERE ts < (SELECT min(ts) FROM flow) + 3600000 ORDER BY ts;
SELECT * FROM progress;
INSERT INTO pumps(pump, value, timestamp) SELECT pump, litres, ts FROM flow
  WHERE ts >= (SELECT min(ts) FROM flow) + 3600000 AND ts < (SELECT min(ts) FROM flow) + 7200000 ORDER BY ts;
SELECT * FROM progress;
INSERT INTO pumps(pump, value, timestamp) SELECT pump, litres, ts FROM flow
  WHERE ts >= (SELECT min(ts) FROM flow) + 7200000 ORDER BY ts;
SELECT * FROM progress;
