/** The messages along a cause chain ("PgClient: Failed to connect: connect ECONNREFUSED ..."). */
export const describeCause = (cause: unknown): string => {
  const messages: Array<string> = []
  for (let current = cause, depth = 0; current !== undefined && depth < 5; depth++) {
    const message = current instanceof Error ? current.message : typeof current === "string" ? current : undefined
    if (message && !messages.includes(message)) messages.push(message)
    current = current instanceof Error ? current.cause : undefined
  }
  return messages.length > 0 ? messages.join(": ") : String(cause)
}

/** An error's message and, when they add to it, the messages of its causes ("Transport error: unable to verify the first certificate"). */
export const withCauses = (error: Error): string => {
  const causes = error.cause === undefined ? "" : describeCause(error.cause)
  return causes === "" || error.message.includes(causes) ? error.message : `${error.message}: ${causes}`
}
