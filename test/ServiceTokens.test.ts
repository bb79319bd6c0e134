import { describe, expect, it } from "@effect/vitest"
import { inspect } from "node:util"
import { accessTokenOf, BearerToken, tokenExpiry } from "../src/services/ServiceTokens.js"

const jwt = (payload: unknown) => `e30.${Buffer.from(JSON.stringify(payload)).toString("base64url")}.signature`

describe("reading the auth service's answers", () => {
  it("takes the access_token of a JSON object, and nothing else for one", () => {
    expect(accessTokenOf(`{"access_token":"abc","token_type":"Bearer"}`)).toBe("abc")
    for (const body of [`{"token_type":"Bearer"}`, `{"access_token":42}`, `["abc"]`, "null", "not json", ""]) {
      expect(accessTokenOf(body)).toBeUndefined()
    }
  })

  it("reads a JWT's exp claim as epoch milliseconds, and no expiry from a token without a readable one", () => {
    expect(tokenExpiry(jwt({ exp: 1_700_000_000, workspaceId: "w" }))).toBe(1_700_000_000_000)
    for (const token of [jwt({ workspaceId: "w" }), jwt({ exp: "soon" }), jwt("text"), "opaque-token", "a.!!!.c", "a..c"]) {
      expect(tokenExpiry(token)).toBeUndefined()
    }
  })
})

describe("a workspace's token in hand", () => {
  it("goes into the Authorization header, and shows as <redacted> however it is printed or serialized", () => {
    const token = BearerToken.of("eyJ.secret-token.sig")
    expect(token.header()).toBe("Bearer eyJ.secret-token.sig")
    for (const shown of [String(token), `${token}`, JSON.stringify({ token }), inspect(token), inspect({ token }), Object.values(token).join()]) {
      expect(shown).not.toContain("secret-token")
    }
    expect(JSON.stringify({ token })).toBe(`{"token":"<redacted>"}`)
  })
})
