import { ApiError } from "../lib/errors";
import { isObject } from "../lib/json";
import type { ObjectRef } from "./kinds";
import { MAX_REFS, referencedObjects } from "./refs";

// A batch runs the requests of its input file upstream, with the project's key, where the gateway does not
// see them: each line's `body` may name stored objects (a `previous_response_id`, a file in a content part,
// a `file_search` tool's vector stores) exactly as a request's body would. So before a batch is created, the
// gateway reads its input file back from the upstream and checks every object its lines name, as if each
// line had been sent through the gateway.

const PARAM = "input_file_id";

const unreadable = (line: number) =>
  new ApiError(
    400,
    "invalid_json",
    `Line ${line} of the batch's input file is not a JSON object, so the objects it names cannot be checked.`,
  );

/** The objects the requests of a batch input file (JSON Lines, streamed from the upstream) name. */
export async function batchInputRefs(content: ReadableStream<Uint8Array>): Promise<ObjectRef[]> {
  const found = new Map<string, ObjectRef>();
  let lineNo = 0;
  const take = (line: string) => {
    lineNo++;
    if (line.trim() === "") return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      throw unreadable(lineNo);
    }
    if (!isObject(parsed)) throw unreadable(lineNo);
    const body = parsed.body;
    if (!isObject(body)) return;
    for (const ref of referencedObjects(body)) {
      const key = `${ref.kind}\0${ref.id}`;
      if (found.has(key)) continue;
      if (found.size >= MAX_REFS)
        throw new ApiError(
          400,
          "validation_error",
          `The batch's requests name more than ${MAX_REFS} stored objects.`,
        );
      found.set(key, { ...ref, param: PARAM });
    }
  };
  const reader = content.pipeThrough(new TextDecoderStream()).getReader();
  let rest = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    const lines = (rest + value).split("\n");
    rest = lines.pop() ?? "";
    for (const line of lines) take(line);
  }
  take(rest);
  return [...found.values()];
}
