import { ApiError } from "../lib/errors";
import type { Json } from "../lib/json";
import type { Access } from "../ownership/endpoints";
import { guardFor, type ObjectGuard } from "../ownership/guard";
import { answerList } from "../ownership/lists";
import type { Provider, UpstreamTarget } from "../providers";
import type { Admitted } from "../tokens/admission";
import { upstreamRequestHeaders } from "./headers";
import type { AnswerObserver } from "./observe";
import type { Sent, UpstreamAbort } from "./send";

// The proxy's side of src/ownership/: what a request may touch among the upstream account's objects.

/** A project has one upstream here: every object lives on it. (Routing records which upstream answered.) */
const ONLY_UPSTREAM = "";

/** The guard of an admitted request's objects, or null on the plain inference path (no lookup, no record). */
export function objectGuard(
  env: Env,
  ctx: ExecutionContext,
  access: Access,
  admitted: Admitted,
  json: Json | null,
): ObjectGuard | null {
  const owner = {
    projectId: admitted.projectId,
    // A JWT used directly has no token: its objects are its end user's, never shared with other users.
    tokenId: admitted.tokenId || (admitted.userId ? `user:${admitted.userId}` : ""),
    scope: admitted.objects.scope,
    capabilities: admitted.objects.capabilities,
  };
  return guardFor(env, ctx, access, owner, json, ONLY_UPSTREAM);
}

/** The provider's observer, also telling the guard what an inference answer stored (read off the client's path). */
export function observing(base: AnswerObserver, guard: ObjectGuard): AnswerObserver {
  return {
    streamEvent(seen, data) {
      base.streamEvent(seen, data);
      guard.noteEvent(data);
    },
    jsonBody(seen, body) {
      base.jsonBody(seen, body);
      guard.noteAnswer(body);
    },
  };
}

const encoder = new TextEncoder();

/**
 * A list endpoint's answer, made by the gateway from its record (ownership/lists.ts) with each object read
 * from the upstream with the client's headers and the project's key; handed on as if the upstream had sent
 * it, so headers and the event follow. Upstream trouble is the gateway's 502 or 504, as for any request.
 */
export async function listed(
  guard: ObjectGuard,
  search: URLSearchParams,
  provider: Provider,
  target: UpstreamTarget,
  request: Request,
  abort: UpstreamAbort,
): Promise<Sent> {
  const headers = upstreamRequestHeaders(request.headers, false);
  const signal = abort.controller.signal;
  let body: Json;
  try {
    body = await answerList(guard, search, (_upstream, path) =>
      provider.send(target, {
        method: "GET",
        dialect: "openai",
        path,
        search: "",
        headers: new Headers(headers),
        body: null,
        json: null,
        model: null,
        signal,
      }),
    );
  } catch (err) {
    if (err instanceof ApiError) throw err;
    if (abort.reason === "timeout") {
      throw new ApiError(504, "upstream_timeout", `The upstream sent nothing within ${abort.timeoutMs} ms.`);
    }
    throw new ApiError(502, "upstream_error", "The upstream could not be reached or broke the connection.");
  } finally {
    abort.answered();
  }
  const bytes = encoder.encode(JSON.stringify(body));
  const type = { "content-type": "application/json", "content-length": String(bytes.byteLength) };
  return { response: new Response(bytes, { status: 200, headers: type }), injected: false };
}
