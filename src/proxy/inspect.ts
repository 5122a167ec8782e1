import { isObject } from "../lib/json";
import { type Meter, type MeterOptions, meterFor } from "../limits/meter";
import { GEMINI_INNER_REQUEST_KEYS, namesGeminiModel } from "../providers/gemini";
import type { Unread } from "../tokens/admission";
import type { BodyKind, JsonBody } from "./body";
import type { ProxyRoute } from "./dialect";
import type { FormFields } from "./form-scanner";

// What the gateway read of a request before admitting it: the model it names (or why it could not read one)
// and what it may cost. A restricted token — allowed models or a budget — is admitted only with a model the
// gateway read from the very bytes it forwards (issue 10); others pass unread bodies through untouched.

/** Endpoints (POST) that take a model in their body, per dialect; Gemini names it in the path. */
const MODEL_ENDPOINTS: Record<ProxyRoute["dialect"], RegExp | null> = {
  openai:
    /^\/(chat\/completions|completions|responses|responses\/input_tokens|embeddings|moderations|images\/(generations|edits|variations)|audio\/(speech|transcriptions|translations))$/,
  anthropic: /^\/messages(\/count_tokens)?$/,
  gemini: null,
};

/** Endpoints that also take a multipart form (a file upload): every other model endpoint takes JSON only. */
const FORM_ENDPOINTS = /^\/(audio\/(transcriptions|translations)|images\/(edits|variations))$/;

/** Gemini's priced methods: the model is in the path, the body must still be read to bound what they cost. */
const GEMINI_PRICED = /:(generateContent|streamGenerateContent|embedContent|batchEmbedContents)$/;

/** Whether this request goes to an endpoint that takes a model the gateway must then read. */
export function takesModel(method: string, route: ProxyRoute): boolean {
  if (method !== "POST" || route.model !== null) return false;
  return MODEL_ENDPOINTS[route.dialect]?.test(route.endpoint) ?? false;
}

export type Inspection = {
  model: string | null;
  unread?: Unread;
  meter: Meter;
};

export type FormRead = { form: FormFields; bytes: number };

const where = (method: string, route: ProxyRoute) =>
  `${method} ${route.dialect === "gemini" ? "/v1beta" : "/v1"}${route.endpoint}`;

function modelOfForm(form: FormFields): { model: string } | { unread: Unread } {
  const values = form.fields.get("model");
  if (form.oversized.has("model") || (values?.length ?? 0) > 1 || (form.files.get("model") ?? 0) > 0) {
    return {
      unread: {
        code: "invalid_form_data",
        message: "The form's 'model' field must be sent once, as a short text value.",
        param: "model",
      },
    };
  }
  const model = values?.[0]?.trim();
  if (!model)
    return {
      unread: {
        code: "model_required",
        message: "This token may only use models the gateway has checked: send a 'model' form field.",
        param: "model",
      },
    };
  return { model };
}

/**
 * Reads the model and the cost of a request. `form`: the multipart form, once read (before that, a
 * restricted token is asked to have it read: `unread.form`). `bodyBytes` of a multipart body: read or declared.
 */
export function inspect(
  method: string,
  route: ProxyRoute,
  kind: BodyKind,
  body: JsonBody | null,
  form: FormRead | null,
  declaredBytes: number | null,
  options: MeterOptions,
): Inspection {
  let model: string | null = route.model;
  let unread: Unread | undefined;
  const json = body?.json ?? null;
  if (takesModel(method, route)) {
    if (kind === "json") {
      if (body?.ambiguousModel)
        unread = {
          code: "invalid_json",
          message: "The JSON body names 'model' more than once: send it once.",
          param: "model",
        };
      else if (typeof json?.model === "string" && json.model.length > 0) model = json.model;
      else
        unread = {
          code: "model_required",
          message: `This token may only use models the gateway has checked: the JSON body of ${where(method, route)} needs a 'model' string.`,
          param: "model",
        };
    } else if (kind === "multipart" && FORM_ENDPOINTS.test(route.endpoint)) {
      if (!form) unread = { code: "model_required", message: "form not read", param: "model", form: true };
      else {
        const read = modelOfForm(form.form);
        if ("model" in read) model = read.model;
        else unread = read.unread;
      }
    } else {
      const types = FORM_ENDPOINTS.test(route.endpoint)
        ? "application/json or multipart/form-data"
        : "application/json";
      unread = {
        code: "unsupported_media_type",
        message: `This token may only use models the gateway has checked: send ${where(method, route)} as ${types}.`,
        param: null,
      };
    }
  } else if (
    route.dialect === "gemini" &&
    method === "POST" &&
    kind !== "json" &&
    GEMINI_PRICED.test(route.endpoint)
  ) {
    // A budget needs the body's size and declared maximum, which only a JSON body the gateway read gives.
    unread = {
      code: "unsupported_media_type",
      message: `This token has a budget: send ${where(method, route)} as application/json.`,
      param: null,
      budgetOnly: true,
    };
  } else if (route.dialect === "gemini" && route.model !== null && json) {
    // The path's model is the one checked and priced: a body naming another is refused, not left to Google.
    // So is one naming `model` twice in one object (at any depth): parsers differ on which one wins.
    const other = otherGeminiModel(json, route.model);
    if (body?.ambiguousModel || body?.ambiguousInnerModel)
      unread = {
        code: "invalid_json",
        message: "The JSON body names 'model' more than once in one object: send it once.",
        param: "model",
      };
    else if (other)
      unread = {
        code: "validation_error",
        message: `The body names the model ${other}, not the path's '${route.model}': name one model.`,
        param: "model",
      };
  } else if (route.model === null && kind === "json" && typeof json?.model === "string") {
    // Another endpoint whose body names a model (e.g. one the table above does not know): checked too. A
    // model in the path (Gemini) is the one the upstream uses, whatever the body says.
    model = json.model;
  }
  const meter = meterFor(
    {
      method,
      dialect: route.dialect,
      endpoint: route.endpoint,
      model,
      json,
      bodyBytes: body ? body.bytes.byteLength : form ? form.bytes : declaredBytes,
      form: form?.form.fields ?? null,
    },
    options,
  );
  return unread ? { model, unread, meter } : { model, meter };
}

/**
 * Where a Gemini body names a model besides its path: `model` (embedContent), `requests[].model`
 * (batchEmbedContents), `generateContentRequest.model` (countTokens). Google requires each to be the path's
 * model (`models/{model}`); for a restricted token the gateway does not rely on that. Returns the first that
 * is anything else, described for the error (`'x' in requests[2].model`), or null.
 */
export function otherGeminiModel(json: Record<string, unknown>, model: string): string | null {
  const differs = (value: unknown) => value !== undefined && !namesGeminiModel(value, model);
  const named = (value: unknown, where: string) =>
    `${typeof value === "string" ? `'${value.slice(0, 200)}'` : "a non-string"} in ${where}`;
  if (differs(json.model)) return named(json.model, "model");
  for (const key of GEMINI_INNER_REQUEST_KEYS) {
    const inner = json[key];
    if (inner === undefined) continue;
    if (!isObject(inner)) return `a ${key} that is not an object`;
    if (differs(inner.model)) return named(inner.model, `${key}.model`);
  }
  const requests = json.requests;
  // A list is what the check reads: any other shape (one object a lenient parser takes as a list of one) is refused.
  if (requests !== undefined && !Array.isArray(requests)) return "a requests that is not a list";
  if (Array.isArray(requests)) {
    for (let i = 0; i < requests.length; i++) {
      const r = requests[i];
      const value = typeof r === "object" && r !== null ? (r as Record<string, unknown>).model : undefined;
      if (differs(value)) return named(value, `requests[${i}].model`);
    }
  }
  return null;
}
