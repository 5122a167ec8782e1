import { IDENTITY_CHANGED } from "../issuing/identity/user-admission";
import { ApiError } from "../lib/errors";
import type { MeterOptions } from "../limits/meter";
import { defaultReserveOutput } from "../limits/reserve";
import type { Capability } from "../ownership/capabilities";
import { type Admission, type AdmitInput, FORM_NEEDED } from "../tokens/admission";
import { admitToken } from "../tokens/admission-cache";
import { reverifyCredential } from "./auth";
import { type BodyKind, bodyKind, type JsonBody, readJsonBody } from "./body";
import { type CacheCandidate, cacheCandidate } from "./cache-step";
import type { ProxyRoute } from "./dialect";
import type { FormFields } from "./form-scanner";
import { type FormRead, inspect } from "./inspect";
import type { SecretRef } from "./isolate-caches";
import { readForm } from "./multipart";
import type { RequestFacts } from "./request-facts";

const DEFAULT_MAX_JSON_BODY_BYTES = 4 * 1024 * 1024;

/** The most bytes of a body the gateway reads (JSON, or a body read for the objects it names). */
export const maxJsonBytes = (env: Env) => positive(env.MAX_JSON_BODY_BYTES, DEFAULT_MAX_JSON_BODY_BYTES);
const DEFAULT_MAX_FORM_BODY_BYTES = 32 * 1024 * 1024;
const DEFAULT_IMAGE_INPUT_RESERVE_TOKENS = 40_000;
/**
 * The lowest audio bitrate a transcription's reservation assumes: 6 kbit/s, Opus's lowest (the lowest of the
 * formats OpenAI accepts). A file's duration is at most its bytes at that rate.
 */
const AUDIO_MIN_BYTES_PER_SECOND = 750;

const positive = (v: unknown, fallback: number) => {
  const n = Number(v);
  return Number.isFinite(n) && n > 0 ? Math.floor(n) : fallback;
};

export function meterOptions(env: Env): MeterOptions {
  return {
    defaultMaxOutputTokens: defaultReserveOutput(env),
    imageInputTokens: positive(env.IMAGE_INPUT_RESERVE_TOKENS, DEFAULT_IMAGE_INPUT_RESERVE_TOKENS),
    audioBytesPerSecond: AUDIO_MIN_BYTES_PER_SECOND,
    maxBodyBytes: maxFormBytes(env),
  };
}

const maxFormBytes = (env: Env) => positive(env.MAX_FORM_BODY_BYTES, DEFAULT_MAX_FORM_BODY_BYTES);

/** Token-counting endpoints are free: their answers carry no usage and want no estimate. */
const isCountEndpoint = (route: ProxyRoute) =>
  route.endpoint === "/messages/count_tokens" || route.endpoint.endsWith(":countTokens");

export type AdmittedRequest = {
  admission: Admission;
  /** The JSON body read, if any (the injection of stream_options works on it). */
  body: JsonBody | null;
  /** What goes upstream: the bytes read, the form read with the rest of its stream, or the untouched stream. */
  forward: BodyInit | null;
  /** Why a multipart upload forwarded past its model was stopped on the way (a second `model`), if it was. */
  stopped?: () => string | null;
  /** The response cache's view of the request (cache-step.ts); null when it does not concern it (yet). */
  cache: CacheCandidate | null;
};

/** What admission is asked besides what the body says: the request's account-wide capability, a cache claim. */
type Extra = Pick<AdmitInput, "capability" | "cacheHit">;

/**
 * Reads what the request's admission needs and asks for it: a JSON body always (model, stream flag, the
 * reservation), a multipart form only for a restricted token (the object answers FORM_NEEDED first, nothing
 * counted) — as far as its model for a token with allowed models, to its end for a budgeted one (`n`, size,
 * quality and the file's length price it). Everything read goes upstream unchanged. Synchronous when there
 * is nothing to read and the isolate may reuse the token's admission (the warm path takes no await).
 */
export function admitRequest(
  env: Env,
  ctx: ExecutionContext,
  request: Request,
  route: ProxyRoute,
  facts: RequestFacts,
  presented: SecretRef,
  origin: string | null,
  capability: Capability | null,
): AdmittedRequest | Promise<AdmittedRequest> {
  const kind = bodyKind(request.method, request.headers);
  if (kind === "json") return admitJson(env, ctx, request, route, facts, presented, origin, capability);
  const extra = { capability };
  const admission = ask(env, ctx, request, route, facts, presented, origin, kind, null, null, extra);
  const done = (a: Admission): AdmittedRequest | Promise<AdmittedRequest> =>
    !a.ok && a.code === FORM_NEEDED
      ? admitForm(env, ctx, request, route, facts, presented, origin, a.message === "form", extra)
      : // request.body only when it was not read: the getter makes a stream object each time.
        { admission: a, body: null, forward: request.body, cache: null };
  return admission instanceof Promise ? admission.then(done) : done(admission);
}

async function admitJson(
  env: Env,
  ctx: ExecutionContext,
  request: Request,
  route: ProxyRoute,
  facts: RequestFacts,
  presented: SecretRef,
  origin: string | null,
  capability: Capability | null,
): Promise<AdmittedRequest> {
  const body = await readJsonBody(request, maxJsonBytes(env));
  facts.json = isCountEndpoint(route) ? null : body.json;
  facts.bodyBytes = body.bytes.byteLength;
  if (body.json && route.model === null) facts.stream = body.json.stream === true;
  // The response cache (cache-step.ts): with what this isolate knows of the token's project, an entry is
  // looked up before admission and claimed in it; null for requests it does not concern.
  const cache = cacheCandidate(request, route, body, presented.objectKey);
  const claiming = cache?.claimBeforeAdmission(env, ctx);
  const claim = claiming ? await claiming : undefined;
  const extra: Extra = claim ? { capability, cacheHit: claim } : { capability };
  const asked = ask(env, ctx, request, route, facts, presented, origin, "json", body, null, extra);
  const admission = asked instanceof Promise ? await asked : asked;
  return { admission, body, forward: body.bytes, cache };
}

/** Inspects what was read and asks the token's admission (from the isolate's entry, or its object). */
function ask(
  env: Env,
  ctx: ExecutionContext,
  request: Request,
  route: ProxyRoute,
  facts: RequestFacts,
  presented: SecretRef,
  origin: string | null,
  kind: BodyKind,
  body: JsonBody | null,
  form: FormRead | null,
  extra: Extra,
): Admission | Promise<Admission> {
  const declared = request.headers.get("content-length");
  const declaredBytes = declared !== null && Number.isFinite(Number(declared)) ? Number(declared) : null;
  const inspection = inspect(request.method, route, kind, body, form, declaredBytes, meterOptions(env));
  facts.model = inspection.model;
  facts.meter = inspection.meter;
  const { reserve, unbounded } = inspection.meter;
  const input: AdmitInput = {
    model: inspection.model,
    origin,
    credential: presented.credential,
    reserve,
    unbounded,
    unread: inspection.unread,
    ...extra,
  };
  const admitting = admitToken(env, ctx, presented.objectKey, input);
  const again = (a: Admission): Admission | Promise<Admission> =>
    !a.ok && a.code === IDENTITY_CHANGED ? reverified(env, ctx, request, route, presented, input) : a;
  return admitting instanceof Promise ? admitting.then(again) : again(admitting);
}

/**
 * The JWT was verified under an identity provider configuration that changed since (its user's object
 * said so): verify it again, once, and ask again. `presented` is the request's own (a JWT's is made per
 * request) and follows the fresh verification, so the settle reaches the same object.
 */
async function reverified(
  env: Env,
  ctx: ExecutionContext,
  request: Request,
  route: ProxyRoute,
  presented: SecretRef,
  input: AdmitInput,
): Promise<Admission> {
  Object.assign(presented, await reverifyCredential(env, request.headers, route.queryKey));
  return admitToken(env, ctx, presented.objectKey, { ...input, credential: presented.credential });
}

/**
 * A restricted token's multipart request: its form is read (as far as `model` only, unless `everything`),
 * then admission is asked again with what it says. The body read is held and goes upstream first.
 */
async function admitForm(
  env: Env,
  ctx: ExecutionContext,
  request: Request,
  route: ProxyRoute,
  facts: RequestFacts,
  presented: SecretRef,
  origin: string | null,
  everything: boolean,
  extra: Extra,
): Promise<AdmittedRequest> {
  const seenModel = (f: FormFields) =>
    (f.fields.get("model")?.length ?? 0) + (f.files.get("model") ?? 0) + (f.oversized.has("model") ? 1 : 0);
  const form = await readForm(
    request,
    maxFormBytes(env),
    (f) => !everything && seenModel(f) > 0,
    // Read only as far as the model: a second `model` field further on (the upstream might take that one)
    // stops the upload before its end, so the upstream never acts on it.
    (f) => (seenModel(f) > 1 ? "a second 'model' field after the one the gateway checked" : null),
  );
  facts.bodyBytes = form.readBytes;
  const read: FormRead = { form: form.form, bytes: form.readBytes };
  const asked = ask(env, ctx, request, route, facts, presented, origin, "multipart", null, read, extra);
  const admission = asked instanceof Promise ? await asked : asked;
  if (!admission.ok && admission.code === FORM_NEEDED) {
    throw new ApiError(500, "internal_error", "The gateway could not decide the request's form.");
  }
  return { admission, body: null, forward: form.body, stopped: form.stopped, cache: null };
}
