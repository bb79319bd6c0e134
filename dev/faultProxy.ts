/**
 * A TCP proxy on loopback that can misbehave as the network to a database does, for tests and the
 * fault campaign: forward, stop forwarding in both directions while closing nothing (a failed-over
 * primary, a dropped NAT entry: "half-open"), or reset every connection ("cut"). Plain Node, no
 * Effect, so any tool can drive it.
 */
import { connect, createServer, type Server, type Socket } from "node:net"

export type ProxyMode = "forward" | "half-open"

export interface FaultProxy {
  readonly port: number
  /** postgres://… of `url` with this proxy's port. */
  readonly via: (url: string) => string
  /**
   * "half-open": from now on no byte goes either way, on open connections or new ones (accepted,
   * never answered), and nothing is closed; what is sent meanwhile is lost. "forward": bytes go
   * again (a connection that lost bytes stays broken, as after a real failover).
   */
  readonly setMode: (mode: ProxyMode) => void
  /** Resets every open connection (RST to both sides); new ones are forwarded as the mode says. */
  readonly cut: () => void
  /** Connections accepted so far. */
  readonly accepted: () => number
  /** Bytes dropped while half-open (either way). */
  readonly dropped: () => number
  readonly close: () => Promise<void>
}

interface Pair {
  readonly client: Socket
  readonly server: Socket
}

export const startFaultProxy = (target: { readonly host: string; readonly port: number }): Promise<FaultProxy> => {
  let mode: ProxyMode = "forward"
  let accepted = 0
  let dropped = 0
  const pairs = new Set<Pair>()

  const pipe = (from: Socket, to: Socket) => {
    from.on("data", (chunk: Buffer) => {
      if (mode === "forward") to.write(chunk)
      else dropped += chunk.length
      // Half-open: the bytes are read (the sender's kernel sees them taken, as by a live peer)
      // and dropped.
    })
  }

  const server: Server = createServer((client) => {
    accepted++
    client.setNoDelay(true)
    const server = connect(target.port, target.host)
    server.setNoDelay(true)
    const pair = { client, server }
    pairs.add(pair)
    pipe(client, server)
    pipe(server, client)
    // A close goes through only while forwarding: half-open, each side is left waiting.
    const closed = (other: Socket) => () => {
      if (mode === "forward") other.destroy()
      if (client.destroyed && server.destroyed) pairs.delete(pair)
    }
    client.on("close", closed(server))
    server.on("close", closed(client))
    client.on("error", () => undefined)
    server.on("error", () => undefined)
  })

  return new Promise((resolve, reject) => {
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      if (address === null || typeof address === "string") return reject(new Error("no port"))
      const port = address.port
      resolve({
        port,
        via: (url) => {
          const parsed = new URL(url)
          parsed.hostname = "127.0.0.1"
          parsed.port = String(port)
          return parsed.toString()
        },
        setMode: (next) => {
          mode = next
        },
        cut: () => {
          for (const { client, server } of pairs) {
            client.resetAndDestroy()
            server.resetAndDestroy()
          }
          pairs.clear()
        },
        accepted: () => accepted,
        dropped: () => dropped,
        close: () =>
          new Promise<void>((done) => {
            for (const { client, server } of pairs) {
              client.destroy()
              server.destroy()
            }
            pairs.clear()
            server.close(() => done())
          })
      })
    })
  })
}
