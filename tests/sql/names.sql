-- Metric and label names: name_validation_scheme (legacy by default, utf8)
-- and name_escaping_scheme (underscores, dots, values). SELECT shows the
-- names as they will be sent.
-- legacy (the default): invalid metric and label names are refused, naming the column, the name and the rule.
-- (rows stay buffered inside a transaction: SELECT shows them; ROLLBACK drops them)
CREATE VIRTUAL TABLE temp.leg USING prometheus_sink(url='http://127.0.0.1:9/x', batch_size=1000);
BEGIN;
INSERT INTO leg(labels, value, timestamp) VALUES ('{"__name__":"http-requests_total"}', 1, 1000);
INSERT INTO leg(labels, value, timestamp) VALUES ('{"__name__":"1st_metric"}', 1, 1000);
INSERT INTO leg(labels, value, timestamp) VALUES ('{"__name__":"cpu.seconds"}', 1, 1000);
INSERT INTO leg(labels, value, timestamp) VALUES ('{"__name__":"http.server.request.duration","service.name":"api"}', 1, 1000);
INSERT INTO leg(labels, value, timestamp) VALUES ('{"__name__":"ns:job:rate5m","a":"1"}', 1, 1000);
INSERT INTO leg(labels, value, timestamp) VALUES ('{"__name__":"m","a:b":"1"}', 1, 1000);
SELECT labels FROM leg;
-- nothing of a refused statement is kept
INSERT INTO leg(labels, value, timestamp) VALUES ('{"__name__":"good"}', 2, 2000), ('{"__name__":"bad-name"}', 3, 3000);
SELECT count(*) FROM leg;
ROLLBACK;
-- utf8: sent exactly as given, in both protocols
CREATE VIRTUAL TABLE temp.u8 USING prometheus_sink(url='http://127.0.0.1:9/x', batch_size=1000, name_validation_scheme='utf8');
BEGIN;
INSERT INTO u8(labels, value, timestamp) VALUES ('{"__name__":"http.server.request.duration","service.name":"api","größe":"L","1st":"x","😀":"y"}', 1, 1000);
INSERT INTO u8(labels, value, timestamp) VALUES ('{"__name__":"m","":"x"}', 1, 1000);
SELECT labels FROM u8;
ROLLBACK;
-- wide rows: a quoted identifier is a label name
CREATE VIRTUAL TABLE temp.w8 USING prometheus_sink(url='http://127.0.0.1:9/x', batch_size=1000, name_validation_scheme='utf8',
  metric='http.server.request.duration', "service.name", external_labels='{"deployment.environment":"prod"}');
BEGIN;
INSERT INTO w8("service.name", value, timestamp) VALUES ('api', 1, 1000), (7, 2, 1000);
SELECT labels FROM w8;
ROLLBACK;
-- escaping: each scheme, name by name
CREATE VIRTUAL TABLE temp.eu USING prometheus_sink(url='http://127.0.0.1:9/x', batch_size=1000, name_escaping_scheme='underscores');
CREATE VIRTUAL TABLE temp.ed USING prometheus_sink(url='http://127.0.0.1:9/x', batch_size=1000, name_escaping_scheme='dots');
CREATE VIRTUAL TABLE temp.ev USING prometheus_sink(url='http://127.0.0.1:9/x', batch_size=1000, name_validation_scheme='legacy', name_escaping_scheme='values');
CREATE VIRTUAL TABLE temp.ew USING prometheus_sink(url='http://127.0.0.1:9/x', batch_size=1000, name_escaping_scheme='underscores',
  metric='cpu.seconds', "host.name", external_labels='{"env-name":"prod"}');
CREATE VIRTUAL TABLE temp.ue USING prometheus_sink(url='http://127.0.0.1:9/x', batch_size=1000, name_validation_scheme='utf8');
BEGIN;
INSERT INTO eu(labels, value, timestamp) VALUES ('{"__name__":"http.server.request.duration","service.name":"api","a_b.c":"1","1st":"2","a:b":"3","größe":"4","x😀":"5"}', 1, 1000);
INSERT INTO ed(labels, value, timestamp) VALUES ('{"__name__":"http.server.request.duration","service.name":"api","a_b":"1","1st":"2","a:b":"3","größe":"4","x😀":"5"}', 1, 1000);
INSERT INTO ev(labels, value, timestamp) VALUES ('{"__name__":"http.server.request.duration","service.name":"api","a_b":"1","1st":"2","a:b":"3","größe":"4","x😀":"5"}', 1, 1000);
INSERT INTO eu(labels, value, timestamp) VALUES ('{"__name__":"1st-metric","ns:job":"x"}', 1, 1000);
INSERT INTO ev(labels, value, timestamp) VALUES ('{"__name__":"ns:job:rate5m"}', 1, 1000);
SELECT labels FROM eu;
SELECT labels FROM ed;
SELECT labels FROM ev;
-- collisions are refused, naming both
INSERT INTO eu(labels, value, timestamp) VALUES ('{"__name__":"m","a.b":"1","a_b":"1"}', 1, 1000);
INSERT INTO eu(labels, value, timestamp) VALUES ('{"__name__":"m","__name_.":"x"}', 1, 1000);
INSERT INTO ew("host.name", labels, value, timestamp) VALUES ('web1', '{"x.y":"1"}', 1, 1000);
INSERT INTO ew("host.name", value, timestamp) VALUES ('web1', 2, 2000);
SELECT labels FROM ew;
INSERT INTO ew("host.name", labels, value, timestamp) VALUES ('web1', '{"host_name":"web1"}', 1, 1000);
-- exemplar labels follow the scheme
INSERT INTO eu(labels, value, timestamp, exemplar) VALUES ('{"__name__":"m"}', 1, 1000, '{"labels":{"trace.id":"abc"}}');
SELECT exemplar FROM eu WHERE exemplar IS NOT NULL;
INSERT INTO leg(labels, value, timestamp, exemplar) VALUES ('{"__name__":"m"}', 1, 1000, '{"labels":{"trace.id":"abc"}}');
INSERT INTO ue(labels, value, timestamp, exemplar) VALUES ('{"__name__":"m"}', 1, 1000, '{"labels":{"trace.id":"abc"}}');
SELECT exemplar FROM ue;
ROLLBACK;
-- CREATE-time refusals: names of options and label columns, bad values and combinations
CREATE VIRTUAL TABLE temp.c1 USING prometheus_sink(url='http://127.0.0.1:9/x', metric='http-requests_total');
CREATE VIRTUAL TABLE temp.c2 USING prometheus_sink(url='http://127.0.0.1:9/x', "service.name");
CREATE VIRTUAL TABLE temp.c3 USING prometheus_sink(url='http://127.0.0.1:9/x', external_labels='{"a.b":"x"}');
CREATE VIRTUAL TABLE temp.c4 USING prometheus_sink(url='http://127.0.0.1:9/x', name_validation_scheme='UTF-8');
CREATE VIRTUAL TABLE temp.c5 USING prometheus_sink(url='http://127.0.0.1:9/x', name_escaping_scheme='dot');
CREATE VIRTUAL TABLE temp.c6 USING prometheus_sink(url='http://127.0.0.1:9/x', name_validation_scheme='utf8', name_escaping_scheme='dots');
CREATE VIRTUAL TABLE temp.c7 USING prometheus_sink(url='http://127.0.0.1:9/x', name_escaping_scheme='underscores', "a.b", a_b);
CREATE VIRTUAL TABLE temp.c8 USING prometheus_sink(url='http://127.0.0.1:9/x', name_escaping_scheme='underscores', "__name_.");
CREATE VIRTUAL TABLE temp.c9 USING prometheus_sink(url='http://127.0.0.1:9/x', name_validation_scheme='utf8', external_labels='{"":"x"}');
CREATE VIRTUAL TABLE temp.c10 USING prometheus_sink(url='http://127.0.0.1:9/x', name_escaping_scheme='underscores', "a.b", external_labels='{"a-b":"x"}');
SELECT count(*) FROM temp.sqlite_master WHERE name LIKE 'c%';
-- unsigned byte order: 'é' (0xC3…) sorts after 'z'
CREATE VIRTUAL TABLE temp.ord USING prometheus_sink(url='http://127.0.0.1:9/x', batch_size=1000, name_validation_scheme='utf8');
BEGIN;
INSERT INTO ord(labels, value, timestamp) VALUES ('{"__name__":"m","é":"1","z":"2","A":"3"}', 1, 1000);
SELECT labels FROM ord;
ROLLBACK;
