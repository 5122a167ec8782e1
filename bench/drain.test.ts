// node:test self-test of the queue drain (run by `npm run bench:selftest`).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { QueueDrain } from "./drain.ts";

/** A consumer that counts `n` more requests `delayMs` after each `produce(n)`. */
function fakeConsumer() {
  let total = 0;
  return {
    total: async () => total,
    produce(n: number, delayMs: number) {
      setTimeout(() => {
        total += n;
      }, delayMs);
    },
  };
}

describe("QueueDrain", () => {
  it("settles first, then waits for exactly what was sent, warm-ups included", async () => {
    const c = fakeConsumer();
    const drain = new QueueDrain(c.total, () => null, { batchTimeoutMs: 20, pollMs: 2 });
    c.produce(5, 5); // before anything is known: settled by quiet
    await drain.before();
    assert.equal(await c.total(), 5);
    c.produce(30, 40); // a warm-up whose events come late
    drain.sent(30);
    await drain.before();
    assert.equal(await c.total(), 35, "the warm-up's events are consumed before the round starts");
    c.produce(10, 30);
    const t0 = performance.now();
    assert.equal((await drain.after(10)).ok, true);
    assert.ok(performance.now() - t0 >= 25, "waited for the round's tail");
    assert.equal(await c.total(), 45);
    assert.equal(drain.stats.timedOut, 0);
  });

  it("gives up after its timeout and settles before the next round", async () => {
    const c = fakeConsumer();
    const drain = new QueueDrain(c.total, () => null, { batchTimeoutMs: 10, pollMs: 2, timeoutMs: 30 });
    await drain.before();
    c.produce(3, 1);
    assert.equal((await drain.after(4)).ok, false, "one request made no event");
    assert.equal(drain.stats.timedOut, 1);
    const settles = drain.stats.settles;
    await drain.before();
    assert.equal(drain.stats.settles, settles + 1);
    c.produce(2, 5);
    assert.equal((await drain.after(2)).ok, true);
  });
});
