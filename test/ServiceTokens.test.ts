import { describe, expect, it } from "@effect/vitest"
import { inspect } from "node:util"
import { BearerToken } from "../src/services/ServiceTokens.js"
import { tokenAnswerOf, tokenExpiry, usedUntil } from "../src/services/ServiceTokens/TokenAnswer.js"

const jwt = (payload: unknown) => `e30.${Buffer.from(JSON.stringify(payload)).toString("base64url")}.signature`

describe("reading the auth service's answers", () => {
  it("takes the access_token of a JSON object and its expires_in when it is a number of seconds, and nothing for other answers", () => {
    expect(tokenAnswerOf(`{"access_token":"abc","token_type":"Bearer"}`)).toEqual({ accessToken: "abc", expiresIn: undefined })
    expect(tokenAnswerOf(`{"access_token":"abc","expires_in":120}`)).toEqual({ accessToken: "abc", expiresIn: 120 })
    for (const expiresIn of [`"120"`, "-1", "null"]) {
      expect(tokenAnswerOf(`{"access_token":"abc","expires_in":${expiresIn}}`)?.expiresIn).toBeUndefined()
    }
    for (const body of [`{"token_type":"Bearer"}`, `{"access_token":42}`, `["abc"]`, "null", "not json", ""]) {
      expect(tokenAnswerOf(body)).toBeUndefined()
    }
  })

  it("uses a token until 30 s before its JWT exp, else its expires_in; 50 minutes with neither; a shorter-lived one only now", () => {
    const now = 1_700_000_000_000
    const token = (exp?: number) => (exp === undefined ? "opaque" : jwt({ exp: exp / 1000 }))
    expect(usedUntil({ accessToken: token(now + 600_000), expiresIn: 60 }, now)).toBe(now + 570_000)
    expect(usedUntil({ accessToken: token(), expiresIn: 600 }, now)).toBe(now + 570_000)
    expect(usedUntil({ accessToken: token(), expiresIn: undefined }, now)).toBe(now + 3_000_000)
    expect(usedUntil({ accessToken: token(), expiresIn: 2 }, now)).toBe(now)
    expect(usedUntil({ accessToken: token(now + 2000), expiresIn: undefined }, now)).toBe(now)
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
