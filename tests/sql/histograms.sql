-- Native histograms and exemplars in the sqlite3 shell: the hidden columns
-- (not in SELECT *, not filled by an INSERT without a column list), SELECT
-- of buffered rows naming them, renamed columns, prometheus_histogram() in
-- GROUP BY and window form, refusals, and spool=on storing them. Nothing
-- is sent: the URL is a closed port, every block ends with ROLLBACK.
CREATE VIRTUAL TABLE temp.m USING prometheus_sink(url='http://127.0.0.1:9/api/v1/write', retry=0);
.headers on
SELECT name, hidden FROM pragma_table_xinfo('m');
.headers off
BEGIN;
INSERT INTO m VALUES ('{"__name__":"plain"}', 1, 1000);
INSERT INTO m(labels, histogram, timestamp) VALUES ('{"__name__":"h"}', ' {"sum":3.7,"schema":3,"positive":{"1":4,"-3":2,"0":5},"zero_count":1} ', 2000);
INSERT INTO m(labels, histogram, timestamp, exemplar) VALUES ('{"__name__":"h"}', '{"schema":-1,"sum":"+Inf","negative":{"2":0.5},"reset":"yes"}', 3000, '{"labels":{"trace_id":"abc"},"value":2.5,"timestamp":"2024-08-15T17:00:00Z"}');
INSERT INTO m(labels, value, timestamp, exemplar) VALUES ('{"__name__":"c"}', 7, 4000, '{"labels":{"trace_id":"def","user":null}}');
SELECT * FROM m;
SELECT labels, value, histogram, exemplar FROM m;
ROLLBACK;
-- renamed columns
CREATE VIRTUAL TABLE temp.r USING prometheus_sink(url='http://127.0.0.1:9/api/v1/write', key_histogram='dist', key_exemplar='trace');
BEGIN;
INSERT INTO r(labels, dist, timestamp, trace) VALUES ('{"__name__":"h"}', '{"schema":0,"sum":1,"positive":{"0":1}}', 1, '{"value":1}');
SELECT dist, trace FROM r;
ROLLBACK;
-- a label column called "histogram" (declared before the hidden columns
-- existed, say) moves the hidden column's default name aside; a given name
-- must not clash
CREATE VIRTUAL TABLE temp.clash USING prometheus_sink(url='http://127.0.0.1:9/api/v1/write', histogram, Exemplar, exemplar_);
SELECT name, hidden FROM pragma_table_xinfo('clash');
DROP TABLE clash;
CREATE VIRTUAL TABLE temp.clash USING prometheus_sink(url='http://127.0.0.1:9/api/v1/write', key_exemplar='value');
CREATE VIRTUAL TABLE temp.clash USING prometheus_sink(url='http://127.0.0.1:9/api/v1/write', host, key_histogram='HOST');
CREATE VIRTUAL TABLE temp.clash USING prometheus_sink(url='http://127.0.0.1:9/api/v1/write', key_histogram='1x');
-- prometheus_histogram(): GROUP BY and window form
CREATE TABLE ev(route TEXT, seconds, ts INTEGER);
INSERT INTO ev VALUES ('/a', 0.010, 1000), ('/a', 0.020, 2000), ('/a', 0.25, 61000), ('/b', 1, 1500), ('/b', 'Inf', 2500);
SELECT route, ts / 60000 AS minute, prometheus_histogram(seconds) FROM ev GROUP BY 1, 2 ORDER BY 1, 2;
SELECT route, ts, json_extract(prometheus_histogram(seconds, 0) OVER (PARTITION BY route ORDER BY ts), '$.count', '$.positive') FROM ev ORDER BY 1, 2;
BEGIN;
INSERT INTO m(labels, histogram, timestamp) SELECT json_object('__name__', 'latency_seconds', 'route', route), prometheus_histogram(seconds, 2), max(ts) FROM ev GROUP BY route ORDER BY 3;
SELECT labels, histogram FROM m;
ROLLBACK;
-- refusals
INSERT INTO m(labels, histogram, timestamp) VALUES ('{"__name__":"h"}', '{"schema":3', 1);
INSERT INTO m(labels, histogram, timestamp) VALUES ('{"__name__":"h"}', 42, 1);
INSERT INTO m(labels, value, histogram, timestamp) VALUES ('{"__name__":"h"}', 1, '{"schema":3,"sum":0}', 1);
INSERT INTO m(labels, timestamp) VALUES ('{"__name__":"h"}', 1);
INSERT INTO m(labels, value, timestamp, exemplar) VALUES ('{"__name__":"c"}', 1, 1, '{"labels":{"a":"b"},"extra":1}');
CREATE VIRTUAL TABLE temp.small USING prometheus_sink(url='http://127.0.0.1:9/api/v1/write', max_request_bytes=1024);
INSERT INTO small(labels, histogram, timestamp) SELECT '{"__name__":"h"}', prometheus_histogram(value), 1 FROM generate_series(1, 100000);
BEGIN;
INSERT INTO small(labels, histogram, timestamp) SELECT '{"__name__":"h"}', prometheus_histogram(value, -4), 1 FROM generate_series(1, 100000);
SELECT 'fewer buckets fit', count(*) FROM small;
ROLLBACK;
SELECT prometheus_histogram(seconds, 'x') FROM ev;
SELECT prometheus_histogram(x'01');
SELECT count(*) AS buffered FROM m;
-- spool=on: histograms and exemplars are stored with their rows (a batch each: autocommit)
ATTACH 'histograms_spool.db' AS f;
CREATE VIRTUAL TABLE f.s USING prometheus_sink(url='http://127.0.0.1:9/api/v1/write', retry=0, spool=on);
INSERT INTO f.s(labels, histogram, timestamp) VALUES ('{"__name__":"h"}', '{"schema":0,"sum":1}', 1);
INSERT INTO f.s(labels, value, timestamp, exemplar) VALUES ('{"__name__":"c"}', 1, 1, '{}');
INSERT INTO f.s(labels, value, timestamp) VALUES ('{"__name__":"c"}', 1, 1);
SELECT 'spooled', count(*), sum(rows) FROM f.s_spool;
SELECT prometheus_sink_discard('s');
