/**
 * What the notify service's answers mean for its client: which throttle it (429, or 503 with
 * Retry-After), and what Retry-After says (RFC 9110, read strictly). How long the client then
 * waits is domain/Waits.ts's.
 */
import type { RetryAfter } from "../../domain/Waits.js"

/** An answer that throttles its client: a 429, or a 503 that says when to come back. */
export const throttles = (status: number, retryAfter: RetryAfter): boolean =>
  status === 429 || (status === 503 && retryAfter._tag !== "Absent")

const absent: RetryAfter = { _tag: "Absent" }
const invalid: RetryAfter = { _tag: "Invalid" }

const months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
const time = "(\\d{2}):(\\d{2}):(\\d{2})"
const month = `(${months.join("|")})`
/** IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`. */
const imfFixdate = new RegExp(`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\\d{2}) ${month} (\\d{4}) ${time} GMT$`)
/** rfc850-date (obsolete): `Sunday, 06-Nov-94 08:49:37 GMT`. */
const rfc850Date = new RegExp(`^(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), (\\d{2})-${month}-(\\d{2}) ${time} GMT$`)
/** asctime-date (obsolete): `Sun Nov  6 08:49:37 1994`. */
const asctimeDate = new RegExp(`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) ${month} ([ \\d]\\d) ${time} (\\d{4})$`)

/** Epoch ms of a date's parts, or undefined when the date does not exist (31 Feb, 25:00). */
const utc = (year: number, monthName: string, day: number, h: number, m: number, s: number): number | undefined => {
  const monthIndex = months.indexOf(monthName)
  const at = Date.UTC(year, monthIndex, day, h, m, s)
  const back = new Date(at)
  const exists = back.getUTCFullYear() === year && back.getUTCMonth() === monthIndex && back.getUTCDate() === day &&
    h < 24 && m < 60 && s < 61
  return exists ? at : undefined
}

/** An HTTP-date in any of its three forms (RFC 9110, 5.6.7), as epoch ms; undefined if it is none. */
export const parseHttpDate = (text: string, now: number): number | undefined => {
  let match = imfFixdate.exec(text)
  if (match !== null) return utc(Number(match[3]), match[2]!, Number(match[1]), Number(match[4]), Number(match[5]), Number(match[6]))
  match = rfc850Date.exec(text)
  if (match !== null) {
    // A two-digit year more than 50 years ahead is of the past century (RFC 9110, 5.6.7).
    const thisYear = new Date(now).getUTCFullYear()
    let year = Math.floor(thisYear / 100) * 100 + Number(match[3])
    if (year > thisYear + 50) year -= 100
    return utc(year, match[2]!, Number(match[1]), Number(match[4]), Number(match[5]), Number(match[6]))
  }
  match = asctimeDate.exec(text)
  if (match !== null) return utc(Number(match[6]), match[1]!, Number(match[2]!.trim()), Number(match[3]), Number(match[4]), Number(match[5]))
  return undefined
}

/**
 * Retry-After (RFC 9110, 10.2.3): `delay-seconds` (digits only) or an HTTP-date. Anything else
 * ("1.5", "-1", "soon", a date in another format) is Invalid; a date in the past is a delay of 0.
 */
export const parseRetryAfter = (value: string | undefined, now: number): RetryAfter => {
  if (value === undefined) return absent
  const text = value.trim()
  if (/^\d+$/.test(text)) return { _tag: "Delay", ms: Math.min(Number(text), 1e9) * 1000 }
  const at = parseHttpDate(text, now)
  return at === undefined ? invalid : { _tag: "Delay", ms: Math.max(0, at - now) }
}
