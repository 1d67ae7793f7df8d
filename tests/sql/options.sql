-- CREATE VIRTUAL TABLE option parsing: every failure names the option.
.headers on
CREATE VIRTUAL TABLE temp.a USING prometheus_sink(url='http://127.0.0.1:9/api/v1/write', key_label='labels', key_value=value, key_timestamp="ts",
  batch_size=500, flush_interval=1000, retry=0, retry_backoff_multiplier_ms=1, retry_backoff_max_ms=10, connect_timeout_ms=100,
  socket_timeout_ms=200, headers='{"X-Scope-OrgID": "team-a", "Authorization": "Bearer s3cret"}', timestamp_unit=s, max_request_bytes=4096);
SELECT name FROM pragma_table_info('a');
CREATE VIRTUAL TABLE temp.b USING prometheus_sink(key_label='labels');
CREATE VIRTUAL TABLE temp.b USING prometheus_sink(url='ftp://127.0.0.1/x');
CREATE VIRTUAL TABLE temp.b USING prometheus_sink(url='file:///etc/passwd');
CREATE VIRTUAL TABLE temp.b USING prometheus_sink(url='http://');
CREATE VIRTUAL TABLE temp.b USING prometheus_sink(url='http://user:hunter2@127.0.0.1:9/x', url='http://127.0.0.1:9/y');
CREATE VIRTUAL TABLE temp.b USING prometheus_sink(url='http://127.0.0.1:9/x', batchsize=10);
CREATE VIRTUAL TABLE temp.b USING prometheus_sink(url='http://127.0.0.1:9/x', retries=10);
CREATE VIRTUAL TABLE temp.b USING prometheus_sink(url='http://127.0.0.1:9/x', socket_timeout=10);
CREATE VIRTUAL TABLE temp.b USING prometheus_sink(url='http://127.0.0.1:9/x', colour=blue);
CREATE VIRTUAL TABLE temp.b USING prometheus_sink(url='http://127.0.0.1:9/x', batch_size=abc);
CREATE VIRTUAL TABLE temp.b USING prometheus_sink(url='http://127.0.0.1:9/x', batch_size=0);
CREATE VIRTUAL TABLE temp.b USING prometheus_sink(url='http://127.0.0.1:9/x', batch_size=10000001);
CREATE VIRTUAL TABLE temp.b USING prometheus_sink(url='http://127.0.0.1:9/x', retry=-1);
CREATE VIRTUAL TABLE temp.b USING prometheus_sink(url='http://127.0.0.1:9/x', retry=99999999999999999999);
CREATE VIRTUAL TABLE temp.b USING prometheus_sink(url='http://127.0.0.1:9/x', connect_timeout_ms=1.5);
CREATE VIRTUAL TABLE temp.b USING prometheus_sink(url='http://127.0.0.1:9/x', timestamp_unit='minutes');
CREATE VIRTUAL TABLE temp.b USING prometheus_sink(url='http://127.0.0.1:9/x', headers='not json');
CREATE VIRTUAL TABLE temp.b USING prometheus_sink(url='http://127.0.0.1:9/x', headers='{"X-A": 1}');
CREATE VIRTUAL TABLE temp.b USING prometheus_sink(url='http://127.0.0.1:9/x', headers='{"Content-Type": "text/plain"}');
CREATE VIRTUAL TABLE temp.b USING prometheus_sink(url='http://127.0.0.1:9/x', headers='{"host": "evil"}');
CREATE VIRTUAL TABLE temp.b USING prometheus_sink(url='http://127.0.0.1:9/x', headers='{"X A": "b"}');
CREATE VIRTUAL TABLE temp.b USING prometheus_sink(url='http://127.0.0.1:9/x', headers='{"X-A": "secret\r\nX-Injected: 1"}');
CREATE VIRTUAL TABLE temp.b USING prometheus_sink(url='http://127.0.0.1:9/x', headers='{"X-A": "a", "x-a": "b"}');
CREATE VIRTUAL TABLE temp.b USING prometheus_sink(url='http://127.0.0.1:9/x', key_label='value');
CREATE VIRTUAL TABLE temp.b USING prometheus_sink(url='http://127.0.0.1:9/x', key_value='my col');
CREATE VIRTUAL TABLE temp.b USING prometheus_sink(url='http://127.0.0.1:9/x', url2='y');
CREATE VIRTUAL TABLE temp.b USING prometheus_sink(url='http://127.0.0.1:9/x', key_label='it''s');
CREATE VIRTUAL TABLE temp.b USING prometheus_sink(url='http://127.0.0.1:9/x', key_label='labels' x);
CREATE VIRTUAL TABLE temp.b USING prometheus_sink(url='http://127.0.0.1:9/x', retry=);
SELECT count(*) AS sinks_created FROM temp.sqlite_master WHERE sql LIKE '%prometheus_sink%';
CREATE VIRTUAL TABLE temp.c USING prometheus_sink(url='http://127.0.0.1:9/x', key_start_timestamp='timestamp');
CREATE VIRTUAL TABLE temp.c USING prometheus_sink(url='http://127.0.0.1:9/x', key_start_timestamp='start time');
CREATE VIRTUAL TABLE temp.c USING prometheus_sink(url='http://127.0.0.1:9/x', protocol='2.0', key_start_timestamp=started);
SELECT group_concat(name) FROM pragma_table_info('c');
-- Managed receivers: one kind of authentication, each complete; credentials never shown.
CREATE VIRTUAL TABLE temp.d USING prometheus_sink(url='http://127.0.0.1:9/x', sigv4_region='us-east-1', bearer_token='s3cret-token');
CREATE VIRTUAL TABLE temp.d USING prometheus_sink(url='http://127.0.0.1:9/x', sigv4_region='us-east-1', sigv4_access_key='AKIDEXAMPLE');
CREATE VIRTUAL TABLE temp.d USING prometheus_sink(url='http://127.0.0.1:9/x', sigv4_service='aps');
CREATE VIRTUAL TABLE temp.d USING prometheus_sink(url='http://127.0.0.1:9/x', sigv4_region='us-east-1', sigv4_access_key='AKIDEXAMPLE', sigv4_secret_key='wJalr-s3cret' x);
CREATE VIRTUAL TABLE temp.d USING prometheus_sink(url='http://127.0.0.1:9/x', sigv4_region='us-east-1', headers='{"X-Amz-Security-Token": "s3cret-session"}');
CREATE VIRTUAL TABLE temp.d USING prometheus_sink(url='http://127.0.0.1:9/x/../y', sigv4_region='us-east-1', sigv4_access_key='AKIDEXAMPLE', sigv4_secret_key='wJalr-s3cret');
CREATE VIRTUAL TABLE temp.d USING prometheus_sink(url='http://127.0.0.1:9/x', sigv4_region='us-east-1', sigv4_access_key_env='PSINK_SQL_TEST_UNSET_AK', sigv4_secret_key='wJalr-s3cret');
CREATE VIRTUAL TABLE temp.d USING prometheus_sink(url='http://127.0.0.1:9/x', oauth2_token_url='http://127.0.0.1:9/token', oauth2_client_id='sink', oauth2_client_secret='s3cret-client', username='u', password='s3cret-pw');
CREATE VIRTUAL TABLE temp.d USING prometheus_sink(url='http://127.0.0.1:9/x', oauth2_token_url='file:///etc/passwd', oauth2_client_id='sink', oauth2_client_secret='s3cret-client');
CREATE VIRTUAL TABLE temp.d USING prometheus_sink(url='http://127.0.0.1:9/x', oauth2_token_url='http://127.0.0.1:9/token', oauth2_client_id='sink');
CREATE VIRTUAL TABLE temp.d USING prometheus_sink(url='http://127.0.0.1:9/x', oauth2_client_secret='s3cret-client');
CREATE VIRTUAL TABLE temp.d USING prometheus_sink(url='http://127.0.0.1:9/x', oauth2_token_url='http://127.0.0.1:9/token', oauth2_client_id='sink', oauth2_client_secret_file='/nonexistent/psink/secret');
CREATE VIRTUAL TABLE temp.d USING prometheus_sink(url='http://127.0.0.1:9/x', oauth2_token_url='http://127.0.0.1:9/token', oauth2_client_id='sink', oauth2_client_secret='s3cret-client', oauth2_params='{"grant_type": "password"}');
CREATE VIRTUAL TABLE temp.d USING prometheus_sink(url='http://127.0.0.1:9/x', oauth2_token_url='http://127.0.0.1:9/token', oauth2_client_id='sink', oauth2_client_secret='s3cret-client', oauth2_params='{"audience": "prom"}', oauth2_scopes='write read');
SELECT count(*) AS managed_sinks_created FROM temp.sqlite_master WHERE name = 'd';
