// Self-test of the measuring library, in Node (it is Node code: undici, sockets, timers):
// `npm run bench:selftest`. Not part of `npm test`, whose suite runs inside workerd.
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import {
  analyseSpacing,
  histogram,
  paired,
  percentile,
  renderTable,
  runInterleaved,
  runLoad,
  sampleStreams,
  summarize,
  type Timing,
  toCsv,
} from "./index.ts";

describe("stats", () => {
  it("uses nearest-rank percentiles on a numeric sort", () => {
    const s = summarize([10, 9, 8, 7, 6, 5, 4, 3, 2, 1]);
    assert.equal(s.p50, 5);
    assert.equal(s.p90, 9);
    assert.equal(s.p99, 10);
    assert.equal(s.min, 1);
    assert.equal(s.max, 10);
    assert.equal(s.mean, 5.5);
    assert.equal(percentile(Float64Array.from([2, 10, 100]), 50), 10);
    assert.equal(summarize([]).count, 0);
  });

  it("histograms every sample into equal buckets", () => {
    const h = histogram([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 5);
    assert.deepEqual(h.counts, [2, 2, 2, 2, 3]);
    assert.equal(h.edges.length, 6);
  });
});

describe("paired", () => {
  it("takes the median of per-round differences and ratios", () => {
    const r = (p50: number, rps: number) => ({ latencyMs: { p50 }, rps }) as Parameters<typeof paired>[0][0];
    const target = [r(3, 50), r(30, 10), r(4, 60)];
    const base = [r(2, 100), r(2, 100), r(3, 100)];
    assert.equal(paired(target, base, (x) => x.latencyMs.p50, "diff").median, 1);
    assert.equal(paired(target, base, (x) => x.rps, "ratio").median, 0.5);
  });
});

describe("analyseSpacing", () => {
  const run = (events: number[]) => ({ eventsMs: events }) as Timing;
  const expected = [50, 50, 50, 0];
  it("accepts jitter within tolerance", () => {
    const r = analyseSpacing([run([0, 51, 100, 151, 151]), run([0, 50, 101, 150, 150])], expected, {
      intervalMs: 50,
    });
    assert.equal(r.heldBack, 0);
    assert.equal(r.withinTolerance, true);
  });
  it("finds an event held back until the next one", () => {
    const held = run([0, 100, 100, 150, 150]);
    const r = analyseSpacing([held, held, held], expected, { intervalMs: 50 });
    assert.equal(r.heldBack, 1);
    assert.equal(r.withinTolerance, false);
    assert.equal(r.maxMedianGapDeviationMs, 50);
  });
  it("ignores a stall that hits one run only", () => {
    const good = run([0, 50, 100, 150, 150]);
    const r = analyseSpacing([good, run([0, 90, 100, 150, 150]), good], expected, { intervalMs: 50 });
    assert.equal(r.withinTolerance, true);
    assert.equal(r.maxGapDeviationMs, 40);
  });
});

describe("output", () => {
  it("aligns tables and quotes CSV", () => {
    const t = renderTable(
      ["name", "ms"],
      [
        ["a", 1.5],
        ["bb", 10],
      ],
    );
    assert.equal(t, "name    ms\n----  ----\na     1.50\nbb      10");
    assert.equal(toCsv(["a", "b"], [['x,"y"', 1]]), 'a,b\r\n"x,""y""",1\r\n');
  });
});

describe("load against a local server", () => {
  let url = "";
  const server = createServer((req, res) => {
    if (req.url === "/sse") {
      res.writeHead(200, { "content-type": "text/event-stream" });
      let i = 0;
      const timer = setInterval(() => {
        res.write(`data: ${i}\n\n`);
        if (++i === 3) {
          clearInterval(timer);
          res.end();
        }
      }, 20);
      return;
    }
    if (req.url === "/fail") {
      res.writeHead(429, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: { code: "rate_limit_exceeded" } }));
      return;
    }
    res.end("ok");
  });
  before(async () => {
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it("runs a closed loop and counts errors by label", async () => {
    const ok = await runLoad({ url: `${url}/`, requests: 50, concurrency: 4, warmup: 5 });
    assert.equal(ok.ok, 50);
    assert.ok(ok.rps > 0);
    const bad = await runLoad({ url: `${url}/fail`, requests: 5, concurrency: 2 });
    assert.deepEqual(bad.errors, { "HTTP 429 rate_limit_exceeded": 5 });
    assert.equal(bad.latencyMs.count, 0);
  });

  it("times SSE events as they arrive", async () => {
    const [t] = await sampleStreams({ url: `${url}/sse` }, 1);
    assert.equal(t?.eventsMs?.length, 3);
    const gap = (t!.eventsMs![2] ?? 0) - (t!.eventsMs![1] ?? 0);
    assert.ok(gap > 10, `events 20 ms apart, got ${gap}`);
  });

  it("interleaves rounds across targets", async () => {
    const m = await runInterleaved(
      [
        { id: "a", spec: { url: `${url}/` } },
        { id: "b", spec: { url: `${url}/` } },
      ],
      { requests: 20, rounds: 4, warmup: 2, concurrency: 2 },
    );
    assert.equal(m.get("a")?.rounds.length, 4);
    assert.equal(m.get("b")?.merged.requests, 20);
  });
});
