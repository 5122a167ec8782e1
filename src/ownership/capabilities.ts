// What a project lets its tokens reach beyond inference. Every token may call the inference endpoints
// (chat/completions, completions, responses and its own stored responses, embeddings, moderations, audio,
// images, GET models). The OpenAI API's account-wide capabilities — objects that live in the upstream
// account and that every key of it can list, read or delete — are off until the project enables them, and
// then a token reaches only the objects its own project's tokens created (see objects.ts and docs/security.md).

/** The account-wide capabilities a project can enable, by name (the project's `capabilities` field). */
export const CAPABILITIES = [
  "files",
  "batches",
  "vector_stores",
  "stored_completions",
  "conversations",
  "fine_tuning",
  "model_deletion",
] as const;

export type Capability = (typeof CAPABILITIES)[number];

/** What each capability opens, for the API document, the admin form and the refusal message. */
export const CAPABILITY_ENDPOINTS: Record<Capability, string> = {
  files: "/v1/files and /v1/uploads",
  batches: "/v1/batches",
  vector_stores: "/v1/vector_stores",
  stored_completions:
    "stored chat completions: GET/POST/DELETE /v1/chat/completions/{id}, GET /v1/chat/completions",
  conversations: "/v1/conversations",
  fine_tuning: "/v1/fine_tuning",
  model_deletion: "DELETE /v1/models/{model} (fine-tuned models of the project's own jobs)",
};

/**
 * Who among a project's tokens reaches an object one of them created: `token` (the default) only the token
 * that created it, `project` every token of the project. Either way never another project's tokens.
 */
export const OBJECT_SCOPES = ["token", "project"] as const;

export type ObjectScope = (typeof OBJECT_SCOPES)[number];
