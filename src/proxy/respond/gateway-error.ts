import type { ApiError } from "../../lib/errors";
import type { Dialect } from "../../providers";
import type { Admitted } from "../../tokens/admission";
import { allowanceHeaders } from "../../tokens/allowance";
import { addCors } from "../cors";
import { gatewayErrorResponse } from "../errors";

/**
 * The gateway's own answer when it refuses or fails a proxied request: the error envelope of the client's
 * dialect (OpenAI's, Anthropic's or Google's: src/proxy/errors.ts) with the gateway's request id, the token's
 * allowance headers once it was admitted, and CORS so a browser page can read it.
 */
export function gatewayError(
  error: ApiError,
  requestId: string,
  origin: string | null,
  admitted: Admitted | null,
  dialect: Dialect = "openai",
): Response {
  const allowance = admitted ? allowanceHeaders(admitted) : undefined;
  const res = gatewayErrorResponse(error, dialect, allowance);
  res.headers.set("x-request-id", requestId);
  addCors(res.headers, origin, allowance ? Object.keys(allowance) : []);
  return res;
}
