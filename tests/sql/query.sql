-- prometheus_query() and prometheus_query_range() without a receiver: their
-- columns, the arguments' errors, a sink without a query endpoint, a
-- receiver that is not there, and the refusal in a view or trigger of the
-- schema (a TEMP view may use them).
.headers on
CREATE VIRTUAL TABLE temp.s USING prometheus_sink(url='http://127.0.0.1:9/api/v1/write', retry=0, connect_timeout_ms=2000);
CREATE VIRTUAL TABLE temp.t USING prometheus_sink(url='http://127.0.0.1:9/ingest');
CREATE VIRTUAL TABLE temp.u USING prometheus_sink(url='http://127.0.0.1:9/ingest', query_max_bytes=1000);
SELECT name, type, hidden FROM pragma_table_xinfo('prometheus_query');
SELECT name, hidden FROM pragma_table_xinfo('prometheus_query_range') WHERE hidden;
.headers off
SELECT * FROM prometheus_query('nope', 'up');
SELECT * FROM prometheus_query('s');
SELECT * FROM prometheus_query(NULL, 'up');
SELECT * FROM prometheus_query('s', '');
SELECT * FROM prometheus_query('s', 'up', 'not a time');
SELECT * FROM prometheus_query_range('s', 'up');
SELECT * FROM prometheus_query_range('s', 'up', 1000, 2000, 0);
SELECT * FROM prometheus_query_range('s', 'up', 3000, 2000, 1000);
SELECT * FROM prometheus_query('t', 'up');
SELECT * FROM prometheus_query('s', 'up', 1700000000000);
CREATE VIEW v AS SELECT * FROM prometheus_query('s', 'up');
SELECT * FROM v;
CREATE TABLE x(a);
CREATE TRIGGER tr AFTER INSERT ON x BEGIN SELECT * FROM prometheus_query_range('s', 'up', 1, 2, 1); END;
INSERT INTO x VALUES (1);
CREATE TEMP VIEW tv AS SELECT * FROM prometheus_query('s', 'up');
SELECT * FROM tv;
CREATE VIRTUAL TABLE temp.q USING prometheus_query;
