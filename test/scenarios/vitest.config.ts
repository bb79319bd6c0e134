/**
 * The scenario suite (`npm run test:scenarios`): the built job against each notify service of
 * dev/scenarios, one file at a time and alone, so that its throughput and latency bands are not
 * the other test files' load. With the suite's own global setup (the embedded PostgreSQL, or
 * TEST_DATABASE_URL).
 */
import { defineConfig } from "vitest/config"
import base from "../../vitest.config.js"

export default defineConfig({
  ...base,
  test: { ...base.test, include: ["test/scenarios/*.test.ts"], exclude: [], fileParallelism: false }
})
