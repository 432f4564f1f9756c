# jobgate image.
#   docker build -t jobgate .
#   docker run --read-only -p 8080:8080 -e JOBGATE_JOB_DOMAIN=job.localhost -e JOBGATE_REDIS_URL=redis://redis:6379 jobgate
# The admin listener (/healthz, /readyz, /metrics) is on the container's loopback, where the
# HEALTHCHECK below reaches it. To publish it, add -e JOBGATE_ADMIN_LISTEN=0.0.0.0:9090 and
# -p 127.0.0.1:9090:9090 (Kubernetes probes need the former: see deploy/kubernetes).
#
# The final image holds the compiled dist/, bin/, config/ and the production dependencies only:
# no TypeScript sources, tests, dev dependencies or npm cache. It runs as an unprivileged user,
# writes nothing to disk (pino logs go to stdout) and so works with a read-only root filesystem.

ARG NODE_IMAGE=node:22-bookworm-slim

# --- build: dev dependencies, TypeScript -> dist/, and the CLI bundled (esbuild) -> dist/bundle/ ---
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: "prepare" (the tsc build) needs the sources, which are copied below;
# no dependency has an install script.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src/ ./src/
COPY bin/ ./bin/
COPY config/ ./config/
COPY scripts/bundle-cli.mjs ./scripts/
RUN npm run build

# --- runtime ---
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
# On a large host V8 grows its young generation to 2 x 16 MB under load. Half of that measured
# as fast and keeps a busy process 5-25 MB smaller (docs/deploy.md, "Memory"). npm run bench
# runs jobgate with the NODE_OPTIONS set here.
ENV NODE_OPTIONS=--max-semi-space-size=8
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force \
 && rm -rf /root/.npm /tmp/*
COPY --from=build /app/dist/ ./dist/
COPY --from=build /app/bin/ ./bin/
COPY --from=build /app/config/ ./config/

# Files stay owned by root and read-only for the process. "node" (uid 1000) comes with the base
# image; the numeric form lets Kubernetes check runAsNonRoot without a runAsUser.
USER 1000:1000

# 8080: job URLs (JOBGATE_LISTEN). 9090: /healthz and /readyz (JOBGATE_ADMIN_LISTEN, on
# 127.0.0.1 unless set to 0.0.0.0:9090).
EXPOSE 8080 9090

# The slim image has no curl: Node's fetch does the check. /healthz means "the process is alive";
# readiness (/readyz: Redis answers, invalidations subscribed) is for the orchestrator's probes.
# 127.0.0.1:9090 answers with the default admin listener and with 0.0.0.0:9090 alike.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9090/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]

# jobgate handles SIGTERM itself (closes listeners, then exits), so node can be PID 1.
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "bin/jobgate.js"]
CMD ["serve"]
