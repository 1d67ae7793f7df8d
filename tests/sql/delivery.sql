-- Delivery failures against a closed loopback port: COMMIT fails and rolls
-- the whole transaction back, so the outbox keeps every row.
CREATE TABLE outbox(name TEXT, v REAL, ts INTEGER);
INSERT INTO outbox VALUES ('temp_c', 21.5, 1700000000000), ('temp_c', 21.7, 1700000060000), ('hum', 40, 1700000000000);
CREATE VIRTUAL TABLE temp.m USING prometheus_sink(url='http://user:hunter2@127.0.0.1:9/api/v1/write', retry=1, retry_backoff_multiplier_ms=1);
BEGIN;
INSERT INTO m SELECT json_object('__name__', name), v, ts FROM outbox;
DELETE FROM outbox;
COMMIT;
SELECT 'outbox rows after failed commit', count(*) FROM outbox;
SELECT 'sink rows after failed commit', count(*) FROM m;
SELECT 'autocommit insert:';
INSERT INTO m VALUES ('{"__name__":"x"}', 1, 1700000000000);
SELECT 'flush of an empty sink', prometheus_sink_flush('m');
SELECT prometheus_sink_flush('nope');
SELECT prometheus_sink_flush(NULL);
SELECT 'flush of all sinks', prometheus_sink_flush();
BEGIN;
INSERT INTO m VALUES ('{"__name__":"x"}', 1, 1700000000000);
SELECT prometheus_sink_flush('m');
SELECT 'buffered after failed flush', count(*) FROM m;
-- the failure dooms the transaction: later inserts and the COMMIT repeat it
INSERT INTO m VALUES ('{"__name__":"x"}', 2, 1700000001000);
COMMIT;
BEGIN;
SELECT 'a new transaction starts clean', count(*) FROM m;
ROLLBACK;
SELECT 'version', prometheus_sink_version() = '0.1.0';
-- batch_size reached inside an INSERT (one queue: max_in_flight=1): the full batch goes to the sender
-- thread; its failure is reported by the next send or by COMMIT, which then
-- rolls the whole transaction back (the ordinary table too)
CREATE TABLE t(x);
CREATE VIRTUAL TABLE temp.b USING prometheus_sink(url='http://127.0.0.1:9/api/v1/write', retry=0, batch_size=2, max_in_flight=1);
BEGIN;
INSERT INTO t VALUES (1);
INSERT INTO b VALUES ('{"__name__":"x"}', 1, 1700000000000);
INSERT INTO b VALUES ('{"__name__":"x"}', 2, 1700000001000), ('{"__name__":"x"}', 3, 1700000002000);
SELECT 'buffered while the first batch is on the wire', group_concat(value) FROM b;
INSERT INTO b VALUES ('{"__name__":"x"}', 4, 1700000003000);
INSERT INTO b VALUES ('{"__name__":"x"}', 5, 1700000004000);
COMMIT;
SELECT 'rows of t after the failed COMMIT', count(*) FROM t;
