import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Needs Debian's Prometheus parts: `npm run test:alerting`; runs alone for its timing bands:
    // `npm run test:scenarios` (CI runs both).
    exclude: ["test/alerting/**", "test/scenarios/**", "**/node_modules/**"],
    globalSetup: ["test/support/globalSetup.ts"],
    // Integration tests start real PostgreSQL servers and processes; give them room.
    testTimeout: 60_000,
    hookTimeout: 120_000
  }
})
