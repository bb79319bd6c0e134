/**
 * Error texts that are safe to store, log and print, whatever bytes a service answered: no
 * control characters or terminal escape sequences (a raw ESC in `status` or a pretty log line
 * would drive the reader's terminal), no NUL or lone surrogate (PostgreSQL's text and jsonb refuse
 * both, which once failed the write of a whole batch), cut on a character boundary.
 */

// CSI (ESC [ … final) and OSC (ESC ] … BEL or ESC \) sequences, then any other ESC and its next character.
const escapeSequence = /\u001b\[[0-?]*[ -/]*[@-~]|\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)?|\u001b[\s\S]?/g
// C0 and C1 controls, DEL, and the invisible bidirectional overrides that can reorder a line.
const controls = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]+/g
// A high surrogate without its low one, or a low one without its high one.
const loneSurrogate = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g

/** One line of plain, storable text: escapes removed, controls and whitespace runs made one space. */
export const safeText = (text: string): string =>
  text.replace(escapeSequence, "").replace(loneSurrogate, "\ufffd").replace(controls, " ").replace(/\s+/g, " ").trim()

/** The start of `text` as safe text, at most `length` characters (code points), with … when cut. */
export const safeExcerpt = (text: string, length = 200): string => {
  // Only the start matters: a 20 MB body is not cleaned whole.
  const line = safeText(text.length > length * 4 + 64 ? text.slice(0, length * 4 + 64) : text)
  if (line.length === 0) return "(empty body)"
  const characters = Array.from(line)
  return characters.length > length ? `${characters.slice(0, length).join("")}…` : line
}
