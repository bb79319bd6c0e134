import { safeText } from "../domain/ErrorText.js"

/** The messages along a cause chain ("PgClient: Failed to connect: connect ECONNREFUSED ..."), as one safe line. */
export const describeCause = (cause: unknown): string => {
  const messages: Array<string> = []
  for (let current = cause, depth = 0; current !== undefined && depth < 5; depth++) {
    const message = current instanceof Error ? current.message : typeof current === "string" ? current : undefined
    if (message && !messages.includes(message)) messages.push(message)
    current = current instanceof Error ? current.cause : undefined
  }
  return safeText(messages.length > 0 ? messages.join(": ") : String(cause))
}
