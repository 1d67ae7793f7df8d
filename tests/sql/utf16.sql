-- A UTF-16 database: text values reach the sink converted to UTF-8.
PRAGMA encoding = 'UTF-16le';
PRAGMA encoding;
CREATE VIRTUAL TABLE temp.u USING prometheus_sink(url='http://127.0.0.1:9/api/v1/write');
BEGIN;
INSERT INTO u VALUES ('{"__name__":"utf16","city":"Zürich"}', '2.5', '2024-08-15T17:00:00Z');
INSERT INTO u VALUES ('{"__name__":"utf16","city":"Zürich"}', 'stale', '2024-08-15T17:00:01Z');
INSERT INTO u VALUES ('{"__name__":"utf16","city":"Zürich",}', '3', '2024-08-15T17:00:02Z');
SELECT labels, value, timestamp FROM u;
ROLLBACK;
