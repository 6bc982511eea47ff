# syntax=docker/dockerfile:1
# The app image: `docker build -t ticketing .`, or `docker compose up --build` for the whole stack.

# Build stage: all dependencies (TypeScript, SWC, ...) to compile src/ into dist/.
FROM node:24-slim AS build
WORKDIR /app
# Manifests first, so the dependency layer is reused while only sources change.
COPY package.json package-lock.json ./
RUN npm ci
COPY . .
RUN npm run build

# Runtime stage: production dependencies and the compiled output only.
FROM node:24-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force
COPY --from=build /app/dist ./dist
# The safelist of the persisted GET: the web app's public reads as codegen wrote them (read at start-up).
COPY --from=build /app/web/src/gql/public-reads/persisted-documents.json ./web/src/gql/public-reads/
# The image's unprivileged user; the app writes nothing to disk (logs go to stdout).
USER node
ENV PORT=4000
EXPOSE 4000
# node:24-slim has no curl; Node's fetch does the probe.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + process.env.PORT + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "dist/src/main.js"]
