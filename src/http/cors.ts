/**
 * CORS (Fetch standard, "CORS protocol") for browser clients on other origins. XEP-0124 says
 * nothing about it (B-10); these rules are ours:
 * - no `Origin`: not a browser cross-origin request; allowed, no CORS headers;
 * - an allowed `Origin`: echoed in `Access-Control-Allow-Origin` (with `Vary: Origin`);
 * - any other `Origin`: refused with 403 before the BOSH layer sees the request, so a foreign
 *   page cannot create sessions or spend the rate limits of its visitors' addresses.
 * Pure functions: the server applies the headers.
 */

export interface CorsPolicy {
  /** Exact origins (`https://app.example`), or '*' for any. */
  origins: readonly string[];
  /** `Access-Control-Max-Age` of preflight answers, seconds. */
  maxAgeS: number;
}

export type CorsDecision =
  | { allowed: true; headers: Record<string, string> }
  | { allowed: false; origin: string };

/** What a preflight (`OPTIONS` with `Access-Control-Request-*`) asks for. */
export interface PreflightRequest {
  origin: string | undefined;
  /** `Access-Control-Request-Headers`. */
  requestHeaders?: string | undefined;
  /** `Access-Control-Request-Private-Network: true` (Chrome's Private Network Access). */
  requestPrivateNetwork?: string | undefined;
}

export const CORS_ALLOW_METHODS = 'POST, OPTIONS';
const DEFAULT_ALLOW_HEADERS = 'Content-Type';
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Whether a browser on `origin` may use the CM. Origins compare case-insensitively. */
export function isOriginAllowed(origin: string, origins: readonly string[]): boolean {
  const wanted = origin.toLowerCase();
  return origins.some((allowed) => allowed === '*' || allowed.toLowerCase() === wanted);
}

/** Headers for an actual request (POST), or a refusal for a foreign origin. */
export function corsForRequest(origin: string | undefined, policy: CorsPolicy): CorsDecision {
  if (origin === undefined) return { allowed: true, headers: {} };
  if (!isOriginAllowed(origin, policy.origins)) return { allowed: false, origin };
  return { allowed: true, headers: { 'Access-Control-Allow-Origin': origin, Vary: 'Origin' } };
}

/** Headers for a preflight, or a refusal for a foreign origin. */
export function corsForPreflight(request: PreflightRequest, policy: CorsPolicy): CorsDecision {
  const { origin } = request;
  if (origin === undefined) return { allowed: true, headers: {} };
  if (!isOriginAllowed(origin, policy.origins)) return { allowed: false, origin };
  const headers: Record<string, string> = {
    'Access-Control-Allow-Origin': origin,
    'Access-Control-Allow-Methods': CORS_ALLOW_METHODS,
    'Access-Control-Allow-Headers': allowHeaders(request.requestHeaders),
    'Access-Control-Max-Age': String(policy.maxAgeS),
    Vary: 'Origin, Access-Control-Request-Headers',
  };
  if (request.requestPrivateNetwork?.trim().toLowerCase() === 'true') {
    headers['Access-Control-Allow-Private-Network'] = 'true';
  }
  return { allowed: true, headers };
}

/** Echoes the requested header names that are valid tokens; 'Content-Type' when none is. */
export function allowHeaders(requested: string | undefined): string {
  if (requested === undefined) return DEFAULT_ALLOW_HEADERS;
  const names = requested.split(',').map((name) => name.trim()).filter((name) => HEADER_NAME.test(name));
  return names.length > 0 ? names.join(', ') : DEFAULT_ALLOW_HEADERS;
}
