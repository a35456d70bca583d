# syntax=docker/dockerfile:1
# Switchboard: Node 24 runs the TypeScript sources directly (type stripping), so the image
# needs no build step — only production dependencies, the sources, the SDL and the migrations.

FROM node:24-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

FROM node:24-slim AS runtime
# Migrations run at start (MIGRATE_ON_START): several instances starting together are safe,
# the migrator holds a PostgreSQL advisory lock. Set it to false to run `node src/cli.ts migrate`
# as a release step instead.
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    DATA_DIR=/data \
    MIGRATE_ON_START=true
WORKDIR /app
COPY --from=deps --chown=node:node /app/node_modules ./node_modules
COPY --chown=node:node package.json ./
COPY --chown=node:node src ./src
COPY --chown=node:node schema ./schema
COPY --chown=node:node drizzle ./drizzle
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 3000
# Healthy = ready (/readyz): the database answers and the migrations are current. The image has
# no curl; node is there. A hung answer counts as a failure after 2.5 s.
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/readyz',{signal:AbortSignal.timeout(2500)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# Exec form: node is PID 1 and receives the SIGTERM of `docker stop` (drain, then exit).
CMD ["node", "src/server.ts"]
