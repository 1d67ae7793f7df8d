// prw_client.js: the npm `prometheus-remote-write` client sending the bench's
// rows, for bench/latency.sh's peer figures.
//
//   node bench/prw_client.js URL N BATCH CONCURRENCY
//
// Rows 1..N of the bench's source (bench/lib.sh: bench_metric{host="h"+(i%100),
// region="r"+(i%7)}, value i, timestamp 1700000000000 + floor(i/100)*1000 ms;
// 700 series), BATCH rows per request grouped into one time series per
// series, each request sent with the library's pushTimeseries() (Node's own
// fetch); at most CONCURRENCY requests wait for their answer at once (the
// library has no queue of its own: 1 is `await` on each call). Prints
// "requests=R samples=S" and exits 1 on any answer that is not 2xx.
// NODE_PATH must reach the installed package.
"use strict";
const { pushTimeseries } = require("prometheus-remote-write");

const [url, nArg, batchArg, concArg] = process.argv.slice(2);
const n = Number(nArg), batch = Number(batchArg), concurrency = Number(concArg);
if (!url || !(n > 0) || !(batch > 0) || !(concurrency > 0)) {
  console.error("usage: node prw_client.js URL N BATCH CONCURRENCY");
  process.exit(2);
}

// The rows [first, last] as one time series per series, in row order.
function series(first, last) {
  const bySeries = new Map();
  for (let i = first; i <= last; i++) {
    const key = (i % 100) * 7 + (i % 7);
    let ts = bySeries.get(key);
    if (!ts) {
      ts = { labels: { __name__: "bench_metric", host: "h" + (i % 100), region: "r" + (i % 7) }, samples: [] };
      bySeries.set(key, ts);
    }
    ts.samples.push({ value: i * 1.0, timestamp: 1700000000000 + Math.floor(i / 100) * 1000 });
  }
  return [...bySeries.values()];
}

let next = 1, requests = 0, samples = 0;
async function worker() {
  while (next <= n) {
    const first = next, last = Math.min(n, first + batch - 1);
    next = last + 1;
    const r = await pushTimeseries(series(first, last), { url, fetch: globalThis.fetch });
    requests++;
    if (r.status < 200 || r.status > 299) {
      throw new Error(`rows ${first}-${last}: ${r.status} ${r.statusText} ${r.errorMessage || ""}`);
    }
    samples += last - first + 1;
  }
}

Promise.all(Array.from({ length: concurrency }, worker)).then(
  () => console.log(`requests=${requests} samples=${samples}`),
  (e) => {
    console.error(`prw_client: ${e.message}`);
    process.exit(1);
  });
