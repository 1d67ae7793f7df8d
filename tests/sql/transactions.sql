-- Buffering semantics seen through SELECT (rows buffered, not yet sent):
-- savepoints, statement rollback, INSERT OR IGNORE / OR FAIL, UPDATE/DELETE.
CREATE VIRTUAL TABLE temp.m USING prometheus_sink(url='http://127.0.0.1:9/api/v1/write', retry=0);
BEGIN;
INSERT INTO m VALUES ('{"__name__":"a"}', 1, 1000);
SAVEPOINT s1;
INSERT INTO m VALUES ('{"__name__":"a"}', 2, 2000);
SAVEPOINT s2;
INSERT INTO m VALUES ('{"__name__":"a"}', 3, 3000);
ROLLBACK TO s2;
SELECT 'after rollback to s2', group_concat(value) FROM m;
INSERT INTO m VALUES ('{"__name__":"a"}', 4, 4000);
RELEASE s2;
ROLLBACK TO s1;
SELECT 'after rollback to s1', group_concat(value) FROM m;
RELEASE s1;
-- a multi-row INSERT with one bad row keeps none of its rows
INSERT INTO m VALUES ('{"__name__":"a"}', 5, 5000), ('{"__name__":"a"}', 'bad', 6000), ('{"__name__":"a"}', 7, 7000);
SELECT 'after failed statement', group_concat(value) FROM m;
-- OR IGNORE skips the bad row and keeps the rest
INSERT OR IGNORE INTO m VALUES ('{"__name__":"a"}', 8, 8000), ('{"bad":"a"}', 9, 9000), ('{"__name__":"a"}', 10, 10000);
SELECT 'after OR IGNORE', group_concat(value) FROM m;
-- OR FAIL keeps the rows before the bad one
INSERT OR FAIL INTO m VALUES ('{"__name__":"a"}', 11, 11000), ('{"__name__":"a"}', 12, 'bad'), ('{"__name__":"a"}', 13, 13000);
SELECT 'after OR FAIL', group_concat(value) FROM m;
-- OR ROLLBACK ends the whole transaction
INSERT OR ROLLBACK INTO m VALUES ('{"__name__":"a"}', 14, 14000), ('{"__name__":"a"}', 15, X'00');
SELECT 'after OR ROLLBACK', count(*) FROM m;
BEGIN;
INSERT INTO m VALUES ('{"__name__":"a"}', 16, 16000);
UPDATE m SET value = 1;
DELETE FROM m;
SELECT 'UPDATE/DELETE change nothing', group_concat(value) FROM m;
ROLLBACK;
SELECT 'after ROLLBACK', count(*) FROM m;
-- a sink cannot be written from a trigger or a view (SQLITE_VTAB_DIRECTONLY)
CREATE TEMP TABLE src(v);
CREATE TEMP TRIGGER fwd AFTER INSERT ON src BEGIN INSERT INTO m VALUES ('{"__name__":"t"}', new.v, 1); END;
INSERT INTO src VALUES (1);
CREATE TEMP VIEW mv AS SELECT * FROM m;
SELECT count(*) FROM mv;
SELECT count(*) AS src_rows FROM src;
-- the same from the main schema: a trigger and a view in a database file
-- cannot reach a sink, whatever trusted_schema says
PRAGMA trusted_schema = 1;
CREATE VIRTUAL TABLE main_sink USING prometheus_sink(url='http://127.0.0.1:9/api/v1/write', retry=0);
CREATE TABLE src2(v);
CREATE TRIGGER fwd2 AFTER INSERT ON src2 BEGIN INSERT INTO main_sink VALUES ('{"__name__":"t"}', new.v, 1); END;
INSERT INTO src2 VALUES (1);
CREATE VIEW v2 AS SELECT * FROM main_sink;
SELECT count(*) FROM v2;
SELECT count(*) AS src2_rows FROM src2;
