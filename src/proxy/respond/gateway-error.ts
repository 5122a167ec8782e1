import { type ApiError, errorResponse } from "../../lib/errors";
import type { Admitted } from "../../tokens/admission";
import { allowanceHeaders } from "../../tokens/allowance";
import { addCors } from "../cors";

/**
 * The gateway's own answer when it refuses or fails a `/v1` request: the error envelope with the gateway's
 * request id, the token's allowance headers once it was admitted, and CORS so a browser page can read it.
 */
export function gatewayError(
  error: ApiError,
  requestId: string,
  origin: string | null,
  admitted: Admitted | null,
): Response {
  const allowance = admitted ? allowanceHeaders(admitted) : undefined;
  const res = errorResponse(error, allowance);
  res.headers.set("x-request-id", requestId);
  addCors(res.headers, origin, allowance ? Object.keys(allowance) : []);
  return res;
}
