import { Agent, request } from "undici"

/** undici with keep-alive, `connections` to an origin, and a POST that fails on a status of 300 or more. */
export const makeHttp = (connections) => {
  const agent = new Agent({ keepAliveTimeout: 30_000, connections })
  const post = async (url, headers, body) => {
    const response = await request(url, { method: "POST", headers, body, dispatcher: agent })
    const text = await response.body.text()
    if (response.statusCode >= 300) throw new Error(`HTTP ${response.statusCode}`)
    return text
  }
  return { agent, post }
}

// The client-credentials token of one workspace, cached per workspace (as the seed's Axios setup did).
export const makeTokens = ({ servicesUrl, clientId, clientSecret, post }) => {
  const cache = new Map()
  const basic = `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString("base64")}`
  return (workspaceId) => {
    let token = cache.get(workspaceId)
    if (token === undefined) {
      const url = `${servicesUrl}/auth/token?grant_type=client_credentials&scope=${encodeURIComponent(`workspaceId=${workspaceId}`)}`
      token = post(url, { authorization: basic, "content-type": "application/x-www-form-urlencoded;charset=utf-8" }, "")
        .then((body) => JSON.parse(body).access_token)
      cache.set(workspaceId, token)
    }
    return token
  }
}
