/**
 * The port to workspace tokens from the auth service (client credentials, one scope per
 * workspace), and the token and errors it gives: the job's own credentials refused is the run's
 * failure, not a todo's. Its live layer is ServiceTokens/Live.ts.
 */
import { Context, type Effect, Schema } from "effect"
import { safeExcerpt } from "../domain/ErrorText.js"
import { WorkspaceId } from "../domain/Todo.js"

/**
 * Service tokens, one per workspace (client-credentials grant scoped to the workspace), cached
 * until shortly before they expire. Concurrent requests for one workspace share one fetch.
 */
export class ServiceTokens extends Context.Tag("app/ServiceTokens")<ServiceTokens, {
  readonly get: (workspaceId: WorkspaceId) => Effect.Effect<BearerToken, TokenError | ClientRejected>
  /** The workspace's token if one is in hand and unexpired, else undefined (then `get` fetches it). */
  readonly inHand: (workspaceId: WorkspaceId) => BearerToken | undefined
  /** Drops a token the notify service refused, so the next `get` fetches a new one. */
  readonly invalidate: (workspaceId: WorkspaceId) => Effect.Effect<void>
}>() {}

/**
 * A workspace's token, held as the value of the Authorization header it goes in: logged,
 * printed or serialized it shows as "<redacted>" (a private field, not Effect's Redacted, whose
 * registry is a WeakMap: an ephemeron per token, work for the garbage collector when a token
 * serves one or two notifications).
 */
export class BearerToken {
  readonly #header: string
  private constructor(header: string) {
    this.#header = header
  }
  /** The token the auth service gave. */
  static of(token: string): BearerToken {
    return new BearerToken(`Bearer ${token}`)
  }
  /** A token by its header value, as the token store keeps it. */
  static ofHeader(header: string): BearerToken {
    return new BearerToken(header)
  }
  /** `Bearer <token>`, for the Authorization header alone. */
  header(): string {
    return this.#header
  }
  toString() {
    return "<redacted>"
  }
  toJSON() {
    return "<redacted>"
  }
  [Symbol.for("nodejs.util.inspect.custom")]() {
    return "<redacted>"
  }
}

/** No token could be had for a workspace; the send that needed it fails with this reason. */
export class TokenError extends Schema.TaggedError<TokenError>()("TokenError", {
  workspaceId: WorkspaceId,
  status: Schema.optional(Schema.Number),
  reason: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {
  override get message(): string {
    return `Could not get a service token: ${this.reason}`
  }
}

/**
 * The auth service refused the client itself (401 or 403 on the token request, or OAuth's
 * `invalid_client`): a rotated or wrong CLIENT_SECRET, or a disabled client. No todo is to blame,
 * so the run stops at once instead of counting an attempt against every todo.
 */
export class ClientRejected extends Schema.TaggedError<ClientRejected>()("ClientRejected", {
  clientId: Schema.String,
  status: Schema.Number
}) {
  override get message(): string {
    return `The auth service refused this job's client credentials (CLIENT_ID=${this.clientId}, HTTP ${this.status}): ` +
      "check CLIENT_ID and CLIENT_SECRET (or CLIENT_SECRET_FILE) against the auth service"
  }
}

/** The start of a response body, on one safe line, for error messages (see domain/ErrorText). */
export const excerpt = (body: string): string => safeExcerpt(body)
