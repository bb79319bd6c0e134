/**
 * What the auth service's answer says of a token: the token itself, and how long it may be used
 * (its JWT exp claim, else the answer's expires_in, RFC 6749 §5.1, else a default).
 */
import { Duration } from "effect"

/**
 * A token is used until this long before it expires (its JWT exp claim, or the answer's
 * expires_in); one whose lifetime is shorter is used for the sends waiting for it, then fetched
 * again.
 */
const expiryMargin = Duration.seconds(30)
/** How long a token is used when neither its answer nor the token says when it expires. */
const defaultLifetime = Duration.minutes(50)

// The token answer and a JWT's payload are read with JSON.parse and a type check, not a Schema:
// each reads a field or two, and over many small workspaces there is a fetch for every other
// notification, where two Schema decodes per fetch allocate far more than the fields read.
const parsed = (json: string): Record<string, unknown> | undefined => {
  try {
    const value: unknown = JSON.parse(json)
    return typeof value === "object" && value !== null ? (value as Record<string, unknown>) : undefined
  } catch {
    return undefined
  }
}

/** What the auth service's answer gives: the token, and its lifetime in seconds when it says (RFC 6749 §5.1). */
export interface TokenAnswer {
  readonly accessToken: string
  readonly expiresIn: number | undefined
}

/** The access_token (and expires_in) of the auth service's answer, when it is a JSON object with one. */
export const tokenAnswerOf = (body: string): TokenAnswer | undefined => {
  const answer = parsed(body)
  const token = answer?.["access_token"]
  if (typeof token !== "string") return undefined
  const expiresIn = answer?.["expires_in"]
  return {
    accessToken: token,
    expiresIn: typeof expiresIn === "number" && Number.isFinite(expiresIn) && expiresIn >= 0 ? expiresIn : undefined
  }
}

/** The exp claim of a JWT in epoch milliseconds, when it has a readable one. */
export const tokenExpiry = (jwt: string): number | undefined => {
  const payload = jwt.split(".")[1]
  if (payload === undefined || !/^[A-Za-z0-9_-]*$/.test(payload)) return undefined
  const exp = parsed(Buffer.from(payload, "base64url").toString("utf8"))?.["exp"]
  return typeof exp === "number" && Number.isFinite(exp) ? exp * 1000 : undefined
}

/**
 * Until when a token fetched at `now` is used: until the margin before it expires, by its JWT exp
 * claim or else by the answer's expires_in; `now` (used only by the sends waiting for it) when that
 * is already past; the default lifetime when neither says.
 */
export const usedUntil = (given: TokenAnswer, now: number): number => {
  const expiresAt = tokenExpiry(given.accessToken) ??
    (given.expiresIn === undefined ? undefined : now + given.expiresIn * 1000)
  return expiresAt === undefined
    ? now + Duration.toMillis(defaultLifetime)
    : Math.max(now, expiresAt - Duration.toMillis(expiryMargin))
}
