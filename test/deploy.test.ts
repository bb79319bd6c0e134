import { readFileSync } from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { createTodosTableSql, seedTodos } from "../dev/seedTodos.js"
import { defaultCeiling } from "../src/lib/ConcurrencyLimit.js"
import { dockerfileStages, documentedVariables, root, yamlDocuments } from "./support/deployment.js"
import { codeBlockAfter } from "./support/docs.js"

const readme = readFileSync(path.join(root, "README.md"), "utf8")
const documents = yamlDocuments()
const ofKind = (kind: string) => documents.filter((d) => d.document?.kind === kind).map((d) => d.document)
const runtime = dockerfileStages().at(-1)!

const documented = documentedVariables()

const podSpecs = () => [
  ...ofKind("CronJob").map((c) => c.spec.jobTemplate.spec.template.spec),
  ...ofKind("Job").map((j) => j.spec.template.spec)
]

describe("the container and its manifests", () => {
  it("the Dockerfile's runtime stage holds only Node and dist/, runs as a non-root user, and runs the job by default", () => {
    expect(runtime.name).toBe("runtime")
    // A Node LTS line in support (docs/operations.md, "Versions"), one that package.json's engines allows.
    expect(runtime.from).toBe("node:26-bookworm-slim")
    expect(dockerfileStages()[0]!.from).toBe(runtime.from)
    expect(JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")).engines.node).toBe(">=24")
    expect(runtime.copies).toEqual([{ from: "build", sources: ["/app/dist/main.js", "/app/dist/job.cjs"], target: "./dist/" }])
    // The code cache is made in this stage, under its own NODE_OPTIONS (V8 refuses it under others).
    expect(runtime.env.NODE_OPTIONS).toBe("--max-old-space-size=128 --max-semi-space-size=32")
    expect(ofKind("ConfigMap")[0].data.NODE_OPTIONS).toBe(runtime.env.NODE_OPTIONS)
    expect(runtime.runs).toEqual(["DELAY_NOTIFICATIONS_WRITE_CODE_CACHE=1 node dist/main.js --help > /dev/null"])
    expect(runtime.user).toMatch(/^[1-9]\d*(:\d+)?$/) // numeric, so runAsNonRoot can check it
    expect(runtime.entrypoint).toEqual(["node", "dist/main.js"])
    expect(runtime.cmd).toEqual(["send-delay-notifications", "--now"])
    // Multi-stage: the build happens in a stage of its own.
    expect(dockerfileStages().map((s) => s.name)).toContain("build")
  })

  it("the ConfigMap's concurrency is the job's default ceiling, as the README's table and --help give it", () => {
    const [configMap] = ofKind("ConfigMap")
    expect(Number(configMap.data.CONCURRENCY)).toBe(defaultCeiling)
    expect(readme).toContain(`| \`CONCURRENCY\` | ${defaultCeiling} |`)
    expect(configMap.data.FIXED_CONCURRENCY ?? "false").toBe("false")
  })

  it("every manifest parses as YAML, and names the image the README documents", () => {
    expect(documents.map((d) => d.file)).toEqual(
      expect.arrayContaining(["deploy/cronjob.yaml", "deploy/job-parallel.yaml", "deploy/configmap.yaml", "compose.yaml"])
    )
    const images = new Set(podSpecs().flatMap((spec) => [...(spec.initContainers ?? []), ...spec.containers]).map((c) => c.image))
    expect([...images]).toEqual(["registry.example.com/delay-notifications:0.1.0"])
    expect(readme).toContain("registry.example.com/delay-notifications:0.1.0")
  })

  it("the CronJob: Forbid, deadlines, backoff, resources, ConfigMap and Secret, migrate first, the Dockerfile's command", () => {
    const [cronJob] = ofKind("CronJob")
    expect(cronJob.spec.concurrencyPolicy).toBe("Forbid")
    expect(cronJob.spec.startingDeadlineSeconds).toBeGreaterThan(0)
    const job = cronJob.spec.jobTemplate.spec
    expect(job.backoffLimit).toBeGreaterThanOrEqual(0)
    expect(job.activeDeadlineSeconds).toBeGreaterThan(0)
    const pod = job.template.spec
    expect(pod.restartPolicy).toBe("Never")
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: Number(runtime.user!.split(":")[0]) })
    expect(pod.initContainers.map((c: any) => c.args)).toEqual([["migrate"]])
    const [container] = pod.containers
    expect(container.args).toEqual(runtime.cmd)
    expect(container.resources.requests).toMatchObject({ cpu: expect.anything(), memory: expect.anything() })
    expect(container.resources.limits).toMatchObject({ memory: expect.anything() })
    const [configMap] = ofKind("ConfigMap")
    const [secret] = ofKind("Secret")
    expect(container.envFrom).toEqual([{ configMapRef: { name: configMap.metadata.name } }])
    expect(pod.volumes.find((v: any) => v.secret)?.secret.secretName).toBe(secret.metadata.name)
    // The secret files the variables name are the Secret's keys, where the volume is mounted.
    const mount = container.volumeMounts.find((m: any) => m.name === pod.volumes.find((v: any) => v.secret).name).mountPath
    for (const variable of ["DATABASE_URL_FILE", "CLIENT_SECRET_FILE"]) {
      const file = container.env.find((e: any) => e.name === variable).value
      expect(path.dirname(file)).toBe(mount)
      expect(Object.keys(secret.stringData)).toContain(path.basename(file))
    }
    // Kubernetes' grace after SIGTERM covers the job's own bound: its grace period and 10 s for the last writes.
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(Number.parseInt(configMap.data.GRACE_PERIOD) + 10)
  })

  it("the parallel Job runs several workers of the same command", () => {
    const drain = ofKind("Job").find((j) => j.spec.parallelism !== undefined)
    expect(drain.spec.parallelism).toBeGreaterThan(1)
    const [container] = drain.spec.template.spec.containers
    expect(container.args.slice(0, 2)).toEqual(runtime.cmd)
    expect(ofKind("Job").some((j) => j.spec.template.spec.containers[0].args[0] === "migrate")).toBe(true)
  })

  it("compose runs PostgreSQL, the fake notify service and the job on a schedule", () => {
    const compose = documents.find((d) => d.file === "compose.yaml")!.document
    expect(Object.keys(compose.services)).toEqual(expect.arrayContaining(["postgres", "fake-notify", "job"]))
    expect(compose.services.job.command[0]).toBe("schedule")
    expect(compose.services["fake-notify"].build.target).toBe("dev-services")
    // Its init.sql is the todos table and the seed's data as the tests know them (a copy, kept equal here).
    const init = readFileSync(path.join(root, "deploy/compose/init.sql"), "utf8")
    expect(init).toContain(createTodosTableSql.trim())
    for (const todo of seedTodos) expect(init).toContain(`'${todo.id}', '${todo.name}', '${todo.assignee}', '${todo.dueDate}'`)
  })

  it("every variable the manifests and compose set is documented in docs/configuration.md", () => {
    const names = new Set<string>()
    for (const spec of podSpecs()) {
      for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
        for (const e of c.env ?? []) names.add(e.name)
      }
    }
    for (const configMap of ofKind("ConfigMap")) for (const key of Object.keys(configMap.data)) names.add(key)
    const compose = documents.find((d) => d.file === "compose.yaml")!.document
    for (const service of ["migrate", "job"]) for (const key of Object.keys(compose.services[service].environment)) names.add(key)
    expect([...names].filter((name) => !documented.has(name))).toEqual([])
    expect(names.size).toBeGreaterThan(5)
  })
})

describe("the built job", () => {
  it("holds no test double: the in-memory ledger and the recording client live in test/support only", () => {
    const bundle = readFileSync(path.join(root, "dist/main.js"), "utf8") + readFileSync(path.join(root, "dist/job.cjs"), "utf8")
    for (const name of ["test/SentNotifications", "SentNotifications", "makeInMemory", "fromTodos", "testLayer", "inMemoryLedger", "failingLedger", "testClientLayer"]) {
      expect(bundle.includes(name), name).toBe(false)
    }
  })

  it("the ops pod of the Kubernetes recipes has the CronJob's image, settings and secrets, and each recipe names objects of deploy/", () => {
    const [cronJob] = ofKind("CronJob")
    const job = cronJob.spec.jobTemplate.spec.template.spec
    const [ops] = ofKind("Pod").filter((pod) => pod.metadata.name === "delay-notifications-ops")
    const [container] = ops.spec.containers
    const sent = job.containers[0]
    expect(container.image).toBe(sent.image)
    expect(container.envFrom).toEqual(sent.envFrom)
    expect(container.env).toEqual(sent.env)
    expect(container.volumeMounts).toEqual(sent.volumeMounts)
    expect(ops.spec.volumes).toEqual(job.volumes)
    expect(ops.spec.securityContext).toEqual(job.securityContext)
    expect(ops.spec.activeDeadlineSeconds).toBeGreaterThan(0)

    const recipes = codeBlockAfter(path.join(root, "docs/operations.md"), "### Kubernetes recipes", "sh")
    const names = new Set(documents.map((d) => `${String(d.document?.kind).toLowerCase()}/${d.document?.metadata?.name}`))
    const named = [...recipes.matchAll(/\b(cronjob|pod)\/([a-z0-9-]+)/g), ...recipes.matchAll(/kubectl (?:patch|delete) (cronjob|pod) ([a-z0-9-]+)/g)]
    expect(named.length).toBeGreaterThanOrEqual(5)
    for (const [, kind, name] of named) expect(names, `${kind}/${name}`).toContain(`${kind}/${name}`)
    for (const [, name] of recipes.matchAll(/kubectl exec ([a-z0-9-]+) /g)) expect(names).toContain(`pod/${name}`)
    for (const [, file] of recipes.matchAll(/-f (deploy\/[a-z-]+\.yaml)/g)) expect(documents.map((d) => d.file)).toContain(file)
  })
})
