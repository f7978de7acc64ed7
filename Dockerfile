# The managed plugin's rootfs where an engine can pull a Node base image:
#
#   make plugin ROOTFS_FROM=dockerfile          (docker build, docker export, docker plugin create)
#
# Stage 1 compiles the TypeScript with the dev dependencies, prunes them, and assembles the same
# minimal rootfs as `make plugin` does from a host (plugin/build.sh --rootfs): node + the
# libraries it links, the app with production node_modules, iptables (nft and legacy) and
# ovs-ofctl with their libraries, the mount points. Stage 2 is only that rootfs.
# Where no registry is reachable, `make plugin` (ROOTFS_FROM=host) builds it without Docker.
ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
# binutils: strip the node binary; iptables, openvswitch-common: the binaries the daemon execs
RUN apt-get update \
 && apt-get install -y --no-install-recommends binutils iptables openvswitch-common \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json config.json README.md ./
COPY bin ./bin
COPY src ./src
COPY packaging/stage-app.sh ./packaging/
COPY plugin/build.sh plugin/entrypoint.js ./plugin/
# tsconfig also includes test/ and bench/: absent here, only src/ is compiled
RUN npx tsc -p tsconfig.json \
 && npm prune --omit=dev --no-audit --no-fund \
 && plugin/build.sh --rootfs /rootfs

FROM scratch
COPY --from=build /rootfs/ /
WORKDIR /app
ENTRYPOINT ["/usr/local/bin/node", "--max-semi-space-size=1", "/app/plugin-entrypoint.js"]
