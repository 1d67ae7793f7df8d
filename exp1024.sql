.load /tmp/pb/prometheus_sink.so
CREATE VIRTUAL TABLE temp.sink USING prometheus_sink(url='http://127.0.0.1:/api/v1/write', batch_size=1024);
INSERT INTO sink SELECT json_object('__name__','bench_metric','host','h'||(value%100),'region','r'||(value%7)) AS labels, value*1.0 AS value, 1700000000000+(value/100)*1000 AS ts FROM generate_series(1,1000000);
