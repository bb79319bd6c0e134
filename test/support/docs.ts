/**
 * The project's Markdown as a reader follows it: the anchors a page offers (its headings, as
 * GitHub makes them, and `<a id>` tags), the relative links each page holds, the fields a page
 * lists for a log line, and the code block of a section.
 */
import { readFileSync } from "node:fs"

/** A heading's anchor as GitHub makes it: lower case, punctuation dropped, spaces as hyphens. */
export const slugOf = (heading: string): string =>
  heading.trim().toLowerCase().replace(/`/g, "").replace(/[^\p{L}\p{N}\s_-]/gu, "").replace(/\s/g, "-")

/** The anchors of a Markdown file: its headings' slugs (outside code blocks) and its `<a id="...">` tags. */
export const anchorsOf = (file: string): ReadonlySet<string> => {
  const text = readFileSync(file, "utf8")
  const anchors = new Set<string>()
  let inCode = false
  for (const line of text.split("\n")) {
    if (line.startsWith("```")) inCode = !inCode
    if (!inCode && /^#{1,6} /.test(line)) anchors.add(slugOf(line.replace(/^#+ /, "")))
  }
  for (const [, id] of text.matchAll(/<a id="([^"]+)"><\/a>/g)) anchors.add(id!)
  return anchors
}

/** The relative links of a Markdown file (not http(s) or mailto), outside code blocks. */
export const relativeLinksOf = (file: string): ReadonlyArray<string> => {
  const text = readFileSync(file, "utf8").replace(/```[\s\S]*?```/g, "")
  return [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!).filter((link) => !/^(https?:|mailto:)/.test(link))
}

/**
 * The fields a page lists in braces after `marker` (`{sent, failed (what it counts), ...}`): the
 * name that starts each item at the braces' own depth.
 */
export const fieldsListed = (file: string, marker: string): ReadonlyArray<string> => {
  const text = readFileSync(file, "utf8").replace(/\s+/g, " ")
  const start = text.indexOf("{", text.indexOf(marker))
  const fields: Array<string> = []
  let depth = 0
  let item = ""
  for (const char of text.slice(start + 1)) {
    if (depth === 0 && (char === "," || char === "}")) {
      fields.push(/^\s*`?([A-Za-z]+)/.exec(item)![1]!)
      item = ""
      if (char === "}") break
      continue
    }
    if (char === "(") depth++
    if (char === ")") depth--
    item += char
  }
  return fields
}

/** The first fenced code block (```lang) after `heading` in `file`, as its text. */
export const codeBlockAfter = (file: string, heading: string, lang: string): string => {
  const text = readFileSync(file, "utf8")
  return new RegExp("```" + lang + "\\n([\\s\\S]*?)```").exec(text.slice(text.indexOf(heading)))![1]!
}
