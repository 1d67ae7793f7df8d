-- Durable spool (spool=on) with the receiver down (127.0.0.1:9, a closed
-- port): rows wait in the shadow table <name>_spool. The runner starts the
-- shell on :memory: with the extension loaded; `.open` would close that
-- connection (and the extension with it), so the database files are ATTACHed
-- (DETACH + ATTACH stands for closing and reopening a file).

-- 1. spool=on needs a database file
CREATE VIRTUAL TABLE x USING prometheus_sink(url='http://127.0.0.1:9/api/v1/write', retry=0, spool=on);
CREATE VIRTUAL TABLE temp.x USING prometheus_sink(url='http://127.0.0.1:9/api/v1/write', retry=0, spool=on);
ATTACH ':memory:' AS mem;
CREATE VIRTUAL TABLE mem.x USING prometheus_sink(url='http://127.0.0.1:9/api/v1/write', retry=0, spool=on);
ATTACH '' AS anon;
CREATE VIRTUAL TABLE anon.x USING prometheus_sink(url='http://127.0.0.1:9/api/v1/write', retry=0, spool=on);
DETACH mem;
DETACH anon;
ATTACH 'spool.db' AS f;
CREATE VIRTUAL TABLE temp.x USING prometheus_sink(url='http://127.0.0.1:9/api/v1/write', retry=0, spool=on);
SELECT 'no sink x was made', count(*) FROM pragma_table_list WHERE name = 'x';
CREATE VIRTUAL TABLE f.m USING prometheus_sink(url='http://127.0.0.1:9/api/v1/write', retry=0, spool=on);
SELECT 'schema of f', type, name FROM f.sqlite_schema ORDER BY name;

-- What waits in a spool: rows in the shadow table (one table row per
-- batch) and rows accepted in the open transaction, not yet written.
CREATE TEMP VIEW spooled AS SELECT name, spool_rows AS n, spool_oldest_timestamp AS oldest FROM prometheus_sink_stats;

-- 2. rows are written into the spool in the user's transaction
BEGIN;
INSERT INTO m VALUES ('{"__name__":"a"}', 1, 1000), ('{"__name__":"a"}', 2, 2000);
SELECT 'inside the transaction', n FROM spooled WHERE name = 'm';
SELECT 'the sink itself buffers nothing', count(*) FROM m;
ROLLBACK;
SELECT 'after ROLLBACK', n FROM spooled WHERE name = 'm';
BEGIN;
INSERT INTO m VALUES ('{"__name__":"a"}', 1, 1000);
SAVEPOINT s1;
INSERT INTO m VALUES ('{"__name__":"a"}', 2, 2000), ('{"__name__":"a"}', 3, 3000);
SAVEPOINT s2;
INSERT INTO m VALUES ('{"__name__":"a"}', 4, 4000);
ROLLBACK TO s2;
SELECT 'after ROLLBACK TO s2', n, oldest FROM spooled WHERE name = 'm';
ROLLBACK TO s1;
SELECT 'after ROLLBACK TO s1', n, oldest FROM spooled WHERE name = 'm';
RELEASE s1;
-- a failed statement keeps none of its rows; OR IGNORE keeps the good ones
INSERT INTO m VALUES ('{"__name__":"a"}', 5, 5000), ('{"__name__":"a"}', 'bad', 6000);
SELECT 'after a failed statement', n, oldest FROM spooled WHERE name = 'm';
INSERT OR IGNORE INTO m VALUES ('{"__name__":"a"}', 7, 7000), ('{"bad":"a"}', 8, 8000), ('{"__name__":"a"}', 9, 9000);
SELECT 'after OR IGNORE', n, oldest FROM spooled WHERE name = 'm';
-- every kind of value and timestamp is spooled (integration-spool checks what arrives)
INSERT INTO m VALUES ('{"zone":"b","__name__":"v","az":"1"}', 1.5, 10000),
  ('{"__name__":"v"}', 'NaN', 11000), ('{"__name__":"v"}', 'stale', 12000),
  ('{"__name__":"v"}', '-Inf', 13000), ('{"__name__":"v"}', -0.0, 14000),
  ('{"__name__":"v"}', 9007199254740993, 15000), ('{"__name__":"v"}', 42, '2023-11-14 22:13:20Z');
SELECT 'spooled', n, oldest FROM spooled WHERE name = 'm';
-- the receiver is down: COMMIT succeeds all the same, the rows stay
COMMIT;
SELECT 'after COMMIT', n, oldest, (SELECT n FROM spooled WHERE name = 'm') FROM spooled WHERE name = 'm';
INSERT INTO m VALUES ('{"__name__":"a"}', 20, 500);
SELECT 'after an autocommit INSERT', n, oldest FROM spooled WHERE name = 'm';
-- (the background drain fails against the closed port at its own pace: failures and
-- last_error are shown after a synchronous flush below)
SELECT 'stats', name, rows_buffered, samples_sent, spool_rows, spool_oldest_timestamp FROM prometheus_sink_stats;


-- 3. prometheus_sink_flush drains only outside a transaction
BEGIN;
SELECT prometheus_sink_flush('m');
SELECT prometheus_sink_flush();
SELECT 'the transaction goes on', n FROM spooled WHERE name = 'm';
COMMIT;
SELECT prometheus_sink_flush('m');
SELECT 'after a failed flush', n FROM spooled WHERE name = 'm';
SELECT 'stats', failures > 0, spool_rows FROM prometheus_sink_stats;
SELECT 'last_error', last_error FROM prometheus_sink_stats;

-- 4. spool_max_rows: the row that would exceed it fails its statement
CREATE VIRTUAL TABLE f.cap USING prometheus_sink(url='http://127.0.0.1:9/api/v1/write', retry=0, spool=on, spool_max_rows=3);
INSERT INTO cap VALUES ('{"__name__":"c"}', 1, 1000), ('{"__name__":"c"}', 2, 2000);
INSERT INTO cap VALUES ('{"__name__":"c"}', 3, 3000), ('{"__name__":"c"}', 4, 4000);
SELECT 'cap after an over-full autocommit INSERT', n, oldest FROM spooled WHERE name = 'cap';
BEGIN;
INSERT INTO cap VALUES ('{"__name__":"c"}', 3, 3000), ('{"__name__":"c"}', 4, 4000);
SELECT 'cap after an over-full INSERT in a transaction', n, oldest FROM spooled WHERE name = 'cap';
INSERT INTO cap VALUES ('{"__name__":"c"}', 3, 3000);
INSERT INTO cap VALUES ('{"__name__":"c"}', 4, 4000);
COMMIT;
SELECT 'cap after COMMIT', n, oldest FROM spooled WHERE name = 'cap';
SELECT 'discard cap', prometheus_sink_discard('cap');
INSERT INTO cap VALUES ('{"__name__":"c"}', 5, 5000), ('{"__name__":"c"}', 6, 6000), ('{"__name__":"c"}', 7, 7000);
SELECT 'cap after discard and INSERT', n, oldest FROM spooled WHERE name = 'cap';
-- a discard rolled back brings the rows back, and the limit with them
BEGIN;
SELECT 'discard cap in a transaction', prometheus_sink_discard('cap');
ROLLBACK;
INSERT INTO cap VALUES ('{"__name__":"c"}', 8, 8000);
SELECT 'cap after a rolled-back discard and an INSERT', n, oldest FROM spooled WHERE name = 'cap';
SELECT 'discard cap', prometheus_sink_discard('cap');

-- 5. discard, DROP TABLE, RENAME
BEGIN;
SELECT 'discard in a transaction', prometheus_sink_discard('m');
SELECT 'inside', n FROM spooled WHERE name = 'm';
ROLLBACK;
SELECT 'discard rolled back', n FROM spooled WHERE name = 'm';
SELECT prometheus_sink_discard('nope');
CREATE VIRTUAL TABLE temp.plain USING prometheus_sink(url='http://127.0.0.1:9/api/v1/write', retry=0);
SELECT prometheus_sink_discard('plain');
DROP TABLE temp.plain;
ALTER TABLE m RENAME TO m2;
-- SQLite replaces xDestroy's message by its generic "SQL logic error"
DROP TABLE m;
INSERT INTO m VALUES ('{"__name__":"a"}', 20, 600);
SELECT 'after a refused DROP', n FROM spooled WHERE name = 'm';
SELECT 'schema of f', type, name FROM f.sqlite_schema ORDER BY name;

-- 6. the spool outlives the connection to the file
DETACH f;
ATTACH 'spool.db' AS f;
SELECT 'reattached', sum(rows), min(min_ts) FROM f.m_spool;
SELECT prometheus_sink_flush('m');
SELECT 'stats after reattaching', name, spool_rows, spool_oldest_timestamp FROM prometheus_sink_stats;

-- 7. VACUUM keeps the spooled rows
CREATE TEMP TABLE before AS SELECT * FROM f.m_spool;
VACUUM f;
SELECT 'after VACUUM: batches, identical batches, rows', (SELECT count(*) FROM f.m_spool),
  (SELECT count(*) FROM f.m_spool JOIN before USING (id, rows, min_ts, data)), (SELECT sum(rows) FROM f.m_spool);
INSERT INTO m VALUES ('{"__name__":"a"}', 21, 21000);
SELECT 'INSERT after VACUUM', count(*), max(id) FROM f.m_spool;

-- 8. defensive mode: SQL cannot write the shadow table, the sink still can
.dbconfig defensive on
INSERT INTO f.m_spool(rows, min_ts, data) VALUES (1, 0, x'00');
DELETE FROM f.m_spool;
UPDATE f.m_spool SET min_ts = 0;
DROP TABLE f.m_spool;
INSERT INTO m VALUES ('{"__name__":"a"}', 22, 22000);
SELECT 'defensive: rows', n FROM spooled WHERE name = 'm';
SELECT 'defensive: discard m', prometheus_sink_discard('m');
DROP TABLE m;
SELECT 'schema of f after DROP', type, name FROM f.sqlite_schema ORDER BY name;
DROP TABLE cap;
SELECT 'schema of f after DROP', count(*) FROM f.sqlite_schema;
.dbconfig defensive off

-- 9. the same in a WAL-mode database; a second reader of the file (another
-- ATTACH) sees the rows only once COMMIT has made them durable
ATTACH 'wal.db' AS w;
PRAGMA w.journal_mode = WAL;
CREATE VIRTUAL TABLE w.q USING prometheus_sink(url='http://127.0.0.1:9/api/v1/write', retry=0, spool=on, spool_max_rows=6);
ATTACH 'wal.db' AS w2;
BEGIN;
INSERT INTO q VALUES ('{"__name__":"w"}', 1, 1000), ('{"__name__":"w"}', 2, 2000);
SELECT 'wal: inside', n FROM spooled WHERE name = 'q';
ROLLBACK;
SELECT 'wal: after ROLLBACK', n FROM spooled WHERE name = 'q';
BEGIN;
INSERT INTO q VALUES ('{"__name__":"w"}', 1, 1000);
SAVEPOINT s;
INSERT INTO q VALUES ('{"__name__":"w"}', 2, 2000), ('{"__name__":"w"}', 3, 3000);
ROLLBACK TO s;
INSERT INTO q VALUES ('{"__name__":"w"}', 4, 4000);
RELEASE s;
SELECT 'wal: inside', n, oldest FROM spooled WHERE name = 'q';
SELECT 'wal: the other reader', coalesce(sum(rows), 0) FROM w2.q_spool;
SELECT prometheus_sink_flush('q');
COMMIT;
SELECT 'wal: the other reader after COMMIT', coalesce(sum(rows), 0), min(min_ts) FROM w2.q_spool;
SELECT 'wal: stats', spool_rows, spool_oldest_timestamp FROM prometheus_sink_stats WHERE name = 'q';
SELECT prometheus_sink_flush('q');
INSERT INTO q VALUES ('{"__name__":"w"}', 5, 5000), ('{"__name__":"w"}', 6, 6000), ('{"__name__":"w"}', 7, 7000), ('{"__name__":"w"}', 8, 8000), ('{"__name__":"w"}', 9, 9000);
SELECT 'wal: after an over-full INSERT', n, oldest FROM spooled WHERE name = 'q';
DETACH w2;
VACUUM w;
SELECT 'wal: after VACUUM', sum(rows), min(min_ts), (SELECT journal_mode FROM pragma_journal_mode('w')) FROM w.q_spool;
DETACH w;
ATTACH 'wal.db' AS w;
SELECT 'wal: reattached', sum(rows), min(min_ts) FROM w.q_spool;
DROP TABLE q;
SELECT 'wal: discard', prometheus_sink_discard('q');
DROP TABLE q;
SELECT 'wal: schema after DROP', count(*) FROM w.sqlite_schema;
