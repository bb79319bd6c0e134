/**
 * Errors described for people: a cause chain, or a configuration error, as one safe line.
 */
import type { ConfigError } from "effect"
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

/** One line naming each variable that is missing or malformed; never a value. */
export const describeConfigError = (error: ConfigError.ConfigError): string => {
  const lines = (e: ConfigError.ConfigError): Array<string> => {
    switch (e._op) {
      case "And":
      case "Or":
        return [...lines(e.left), ...lines(e.right)]
      case "MissingData":
        return [`${e.path.join(".")} is not set`]
      default:
        return [`${e.path.join(".")}: ${e.message}`]
    }
  }
  return [...new Set(lines(error))].join("; ")
}
