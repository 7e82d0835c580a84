# nsfs in a container. It must run as root, see the host's processes and
# mount FUSE, and its mount must reach the host:
#
#   docker run -d --name nsfs --restart unless-stopped \
#     --device /dev/fuse --cap-add SYS_ADMIN --pid=host \
#     --security-opt apparmor=unconfined \
#     -v /run/nsfs:/run/nsfs:rshared \
#     nsfs
#
# Build stage: everything, dev dependencies included, to compile TypeScript.
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npx --no-install tsc -p .

# Runtime stage: node, the production dependencies and the compiled code;
# nothing else (nsfs speaks FUSE to the kernel itself, without libfuse).
FROM node:20-bookworm-slim
WORKDIR /usr/lib/nsfs
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund \
 && npm cache clean --force
COPY --from=build /src/dist ./dist
COPY README.md ./
# Root, because seeing every process's namespaces and mounting need it.
USER root
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "/usr/lib/nsfs/dist/cli/main.js"]
CMD ["mount", "/run/nsfs", "--foreground"]
