// Preloaded into every contender (node -r bench/rss.cjs ...): reports the process's peak RSS and
// its own CPU time (user + system, and each) at exit.
process.on("exit", () => {
  const usage = process.resourceUsage()
  process.stderr.write(
    `\nBENCH_MAX_RSS_KB=${usage.maxRSS}\nBENCH_CPU_US=${usage.userCPUTime + usage.systemCPUTime}\n` +
      `BENCH_USER_US=${usage.userCPUTime}\nBENCH_SYSTEM_US=${usage.systemCPUTime}\n`
  )
})
