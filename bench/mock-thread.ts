// Runs the project's mock upstream in its own thread: its timers and sockets then never wait behind the
// load generator's event loop (and vice versa). Records nothing: the bench only needs answers.
import { parentPort } from "node:worker_threads";
import { startMockUpstream } from "../test/support/mock-upstream.ts";

const mock = await startMockUpstream({ maxRecorded: 0 });
parentPort?.postMessage({ url: mock.url });
parentPort?.on("message", (message: unknown) => {
  if (message === "close") void mock.close().then(() => process.exit(0));
});
