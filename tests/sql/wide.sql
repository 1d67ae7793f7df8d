-- Wide rows: bare names declare label columns, `metric` supplies __name__,
-- `external_labels` adds fixed labels; the JSON column merges with them.
CREATE VIRTUAL TABLE temp.cpu USING prometheus_sink(url='http://127.0.0.1:9/api/v1/write', metric='node_cpu_seconds_total',
  host, mode, external_labels='{"env":"prod","dc":null}');
.headers on
SELECT name FROM pragma_table_info('cpu');
.headers off
BEGIN;
INSERT INTO cpu(host, mode, value, timestamp) VALUES ('web1', 'idle', 1.5, 1000), ('web1', 'user', 2, 1000);
INSERT INTO cpu(host, value, timestamp) VALUES ('web2', 3, 2000);
INSERT INTO cpu(host, mode, value, timestamp) VALUES ('web3', '', 4, 3000);
INSERT INTO cpu(host, mode, value, timestamp) VALUES (42, 'idle', 5, 4000);
INSERT INTO cpu(host, mode, labels, value, timestamp) VALUES ('web1', 'idle', '{"cpu":"0"}', 6, 5000);
INSERT INTO cpu(host, labels, value, timestamp) VALUES ('web1', '{"host":"web1","env":"prod"}', 7, 6000);
SELECT * FROM cpu;
-- conflicts
INSERT INTO cpu(host, labels, value, timestamp) VALUES ('web1', '{"host":"web9"}', 8, 7000);
INSERT INTO cpu(labels, value, timestamp) VALUES ('{"env":"dev"}', 8, 7000);
INSERT INTO cpu(labels, value, timestamp) VALUES ('{"__name__":"other"}', 8, 7000);
INSERT INTO cpu(host, value, timestamp) VALUES (1.5, 8, 7000);
INSERT INTO cpu(host, value, timestamp) VALUES (X'00', 8, 7000);
INSERT INTO cpu(host, value, timestamp) VALUES (CAST(X'FF' AS TEXT), 8, 7000);
SELECT count(*) FROM cpu;
ROLLBACK;
-- no metric and no __name__ anywhere
CREATE VIRTUAL TABLE temp.nometric USING prometheus_sink(url='http://127.0.0.1:9/api/v1/write', host);
INSERT INTO nometric(host, value) VALUES ('a', 1);
-- CREATE-time errors
CREATE VIRTUAL TABLE temp.w1 USING prometheus_sink(url='http://127.0.0.1:9/x', host, host);
CREATE VIRTUAL TABLE temp.w2 USING prometheus_sink(url='http://127.0.0.1:9/x', value);
CREATE VIRTUAL TABLE temp.w3 USING prometheus_sink(url='http://127.0.0.1:9/x', "bad-name");
CREATE VIRTUAL TABLE temp.w4 USING prometheus_sink(url='http://127.0.0.1:9/x', __name__);
CREATE VIRTUAL TABLE temp.w5 USING prometheus_sink(url='http://127.0.0.1:9/x', external_labels='{"1x":"a"}');
CREATE VIRTUAL TABLE temp.w6 USING prometheus_sink(url='http://127.0.0.1:9/x', external_labels='[1]');
CREATE VIRTUAL TABLE temp.w7 USING prometheus_sink(url='http://127.0.0.1:9/x', Host, host);
CREATE VIRTUAL TABLE temp.w8 USING prometheus_sink(url='http://127.0.0.1:9/x', labels);
