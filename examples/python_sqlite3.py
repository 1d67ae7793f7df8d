import sqlite3
import sys

url = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:9090/api/v1/write"

conn = sqlite3.connect(":memory:")
conn.enable_load_extension(True)
conn.load_extension("prometheus_sink")  # found by the dynamic loader, like any library
conn.enable_load_extension(False)

conn.execute(f"CREATE VIRTUAL TABLE temp.metrics USING prometheus_sink(url='{url}')")
with conn:  # one transaction: the rows are sent at COMMIT, which fails if they are refused
    conn.executemany(
        "INSERT INTO metrics(labels, value) VALUES (json_object('__name__', 'queue_length', 'queue', ?), ?)",
        [("orders", 12), ("emails", 3)])
print(conn.execute("SELECT samples_sent, requests FROM prometheus_sink_stats").fetchone())
