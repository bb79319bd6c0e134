# syntax=docker/dockerfile:1
# The cron container: `docker build -t registry.example.com/delay-notifications:0.1.0 .`
# Stages: build (npm ci and the bundle), dev-services (the fake notify service, for compose.yaml
# only), runtime (Node and dist/: the job, its loader and its code cache; the default target).

FROM node:26-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# No install scripts: esbuild's binary comes from its optional dependency package.
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json ./
COPY scripts ./scripts
COPY src ./src
COPY dev ./dev
RUN npm run build

# The fake auth and notify services, for local use with compose.yaml; never deployed.
FROM build AS dev-services
EXPOSE 3001
CMD ["npx", "tsx", "dev/fake-notify.ts", "--host", "0.0.0.0", "--port", "3001"]

FROM node:26-bookworm-slim AS runtime
# V8's heap settings: the job's live heap is flat whatever the backlog, but without a cap V8 lets
# garbage grow the RSS; an old space much closer to the live heap makes Node 26's V8 collect all
# the time, and a young generation of 32 MB keeps a send's short-lived objects out of the old one
# (figures: bench/NOTES.md, "Node lines").
ENV NODE_ENV=production NODE_OPTIONS="--max-old-space-size=128 --max-semi-space-size=32"
WORKDIR /app
COPY --from=build /app/dist/main.js /app/dist/job.cjs ./dist/
# V8's code cache of the job, made here under this stage's NODE_OPTIONS: V8 uses a cache only
# under the flags it was made with (the build's is for none). A start then reads the compiled code
# instead of compiling the bundle (src/boot.ts).
RUN DELAY_NOTIFICATIONS_WRITE_CODE_CACHE=1 node dist/main.js --help > /dev/null
# The image's `node` user, by number so that Kubernetes' runAsNonRoot can check it.
USER 1000:1000
ENTRYPOINT ["node", "dist/main.js"]
CMD ["send-delay-notifications", "--now"]
