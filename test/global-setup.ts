import type { AddressInfo } from "node:net";
import { createServer } from "node:net";
import type { TestProject } from "vitest/node";
import { startMockUpstream } from "./support/mock-upstream.ts";

declare module "vitest" {
  export interface ProvidedContext {
    mockUpstreamUrl: string;
    deadUpstreamUrl: string;
  }
}

/** A loopback URL where nothing listens (a port just opened and closed): connections are refused. */
async function deadUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

// One mock OpenAI upstream for the whole run (a real Node HTTP server); the worker tests reach it at the
// URL bound as MOCK_UPSTREAM_URL. Tests tag their requests (`x-mock-tag`) to find their own.
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const mock = await startMockUpstream();
  project.provide("mockUpstreamUrl", mock.url);
  project.provide("deadUpstreamUrl", await deadUrl());
  return () => mock.close();
}
