-- Recipe: request latencies as native histograms. A table of raw events
-- (one row per request: route, latency in seconds, time) becomes one
-- Prometheus native histogram per route and minute, bucketed by
-- prometheus_histogram() exactly as Prometheus's Go client would have
-- bucketed the same observations; Prometheus then answers
-- histogram_quantile(), histogram_count() and histogram_sum() over them.
--
-- The receiver must accept native histograms: Prometheus >= 2.40 started
-- with --enable-feature=native-histograms (and --web.enable-remote-write-receiver);
-- scripts/prometheus.sh start DIR --native-histograms does that. Prometheus
-- has no out-of-order window for histograms: each route's minutes must
-- arrive in time order (ORDER BY the timestamp), newer than what it holds.
--
--   sqlite3 app.db < sql/native_histograms.sql
-- then, in Prometheus:
--   histogram_quantile(0.9, http_request_duration_seconds{route="/api/orders"})
--   histogram_count(http_request_duration_seconds)
.load ./build/prometheus_sink
.bail on
-- sample data: 30 minutes of requests to three routes, up to the start of
-- the current minute; latencies spread over two orders of magnitude
DROP TABLE IF EXISTS requests;
CREATE TABLE requests(route TEXT, seconds REAL, ts INTEGER);
WITH now_minute(ms) AS (SELECT CAST((julianday('now') - 2440587.5) * 1440 AS INTEGER) * 60000),
     u(i, route, base, x) AS (
       SELECT value, CASE value % 3 WHEN 0 THEN '/api/orders' WHEN 1 THEN '/api/users' ELSE '/health' END,
              CASE value % 3 WHEN 0 THEN 0.040 WHEN 1 THEN 0.015 ELSE 0.001 END,
              ((value * 2654435761) % 1000003) / 1000003.0
       FROM generate_series(0, 5399))
INSERT INTO requests
  SELECT route, round(base * (1 + 30 * x * x * x), 6), ms - 30 * 60000 + i * 333
  FROM u, now_minute;

CREATE VIRTUAL TABLE temp.latency USING prometheus_sink(
  url = 'http://127.0.0.1:9090/api/v1/write',
  metric = 'http_request_duration_seconds', route,
  metric_type = 'gaugehistogram',
  metric_help = 'Request latency, one distribution per route and minute',
  metric_unit = 'seconds');

-- One histogram per route and minute, stamped at the minute's last
-- millisecond; schema 3 (the default) has 8 buckets per doubling.
INSERT INTO latency(route, histogram, timestamp)
  SELECT route, prometheus_histogram(seconds), (ts / 60000) * 60000 + 59999
  FROM requests
  GROUP BY route, ts / 60000
  ORDER BY 3;

SELECT 'exported ' || histograms_sent || ' histograms of ' ||
       (SELECT count(*) FROM requests) || ' requests in ' || requests || ' request(s)'
FROM prometheus_sink_stats WHERE name = 'latency';
