// Preloaded by runBuiltMeasured: writes the process's peak resident memory (KiB) to PEAK_RSS_FILE as it exits.
import { writeFileSync } from "node:fs"

process.on("exit", () => {
  if (process.env.PEAK_RSS_FILE) writeFileSync(process.env.PEAK_RSS_FILE, String(process.resourceUsage().maxRSS))
})
