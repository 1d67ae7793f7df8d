-- The outbox recipe: export queued readings and delete them in one
-- transaction. If the receiver is down or refuses the data, COMMIT fails,
-- SQLite rolls the DELETE back, and the outbox keeps every row for the next
-- run.
--
--   sqlite3 app.db < sql/outbox.sql        (after loading the extension)
--
-- The receiver here is a local Prometheus on its default port; change the url.
.load ./build/prometheus_sink
.bail on
CREATE TABLE IF NOT EXISTS outbox(name TEXT NOT NULL, host TEXT, value REAL, ts INTEGER);
CREATE VIRTUAL TABLE temp.metrics USING prometheus_sink(url='http://127.0.0.1:9090/api/v1/write');

BEGIN;
INSERT INTO metrics(labels, value, timestamp)
  SELECT json_object('__name__', name, 'host', host), value, ts FROM outbox ORDER BY ts;
DELETE FROM outbox;
COMMIT;

SELECT 'sent ' || samples_sent || ' samples in ' || requests || ' requests' FROM prometheus_sink_stats WHERE name = 'metrics';
