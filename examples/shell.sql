.load prometheus_sink
SELECT prometheus_sink_version();
CREATE VIRTUAL TABLE temp.metrics USING prometheus_sink(url='http://127.0.0.1:9090/api/v1/write');
INSERT INTO metrics(labels, value) VALUES
  ('{"__name__":"room_temperature_celsius","room":"kitchen"}', 21.5),
  ('{"__name__":"room_temperature_celsius","room":"hall"}', 19.25);
SELECT samples_sent, requests FROM prometheus_sink_stats;
