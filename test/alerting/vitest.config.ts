/**
 * The alerting tests (`npm run test:alerting`): the operations kit on Debian's prometheus,
 * prometheus-pushgateway and prometheus-alertmanager, with the suite's own global setup (the
 * embedded PostgreSQL, or TEST_DATABASE_URL).
 */
import { defineConfig } from "vitest/config"
import base from "../../vitest.config.js"

export default defineConfig({ ...base, test: { ...base.test, include: ["test/alerting/*.test.ts"], exclude: [] } })
