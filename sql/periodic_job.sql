-- Recipe: a periodic job that exports only the rows added since its last
-- run. Run it from cron:
--
--   */5 * * * *  cd /srv/app && sqlite3 app.db < /srv/app/sql/periodic_job.sql
--
-- The high-water mark moves in the same transaction as the export: if the
-- receiver is down, the COMMIT fails, the mark stays, and the next run sends
-- the same rows again. sqlite3 exits non-zero (.bail on), so cron reports it.
.load ./build/prometheus_sink
.bail on
CREATE TABLE IF NOT EXISTS events(id INTEGER PRIMARY KEY, kind TEXT, duration_ms REAL, ts INTEGER);
CREATE TABLE IF NOT EXISTS export_state(job TEXT PRIMARY KEY, last_id INTEGER NOT NULL);
INSERT OR IGNORE INTO export_state VALUES ('events_to_prometheus', 0);

CREATE VIRTUAL TABLE temp.durations USING prometheus_sink(
  url = 'http://127.0.0.1:9090/api/v1/write',
  metric = 'job_duration_milliseconds', kind);

BEGIN;
INSERT INTO durations(kind, value, timestamp)
  SELECT kind, duration_ms, ts FROM events
  WHERE id > (SELECT last_id FROM export_state WHERE job = 'events_to_prometheus')
  ORDER BY ts;
UPDATE export_state SET last_id = (SELECT coalesce(max(id), last_id) FROM events)
  WHERE job = 'events_to_prometheus';
COMMIT;

SELECT 'exported ' || samples_sent || ' new rows; high-water mark ' ||
       (SELECT last_id FROM export_state WHERE job = 'events_to_prometheus')
  FROM prometheus_sink_stats WHERE name = 'durations';
