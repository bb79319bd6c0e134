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
