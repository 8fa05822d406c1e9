# kt-deno images. Two targets:
#   controller: the compiled kt-deno binary alone, on a distroless base with CA certificates,
#               as a non-root user; the binary is the entrypoint.
#     docker build --target controller -t kt-deno:0.1.0 .
#   worker:     a base for worker images: Deno, kt-deno and Debian's python3, running
#               TypeScript and Python task functions (python3 is in this one image, not a
#               second target, so that one spec can mix both and one image serves every
#               pipeline; it adds about 30 MB). Extend it with your functions (and your
#               Python packages: pip, or Debian's python3-* packages):
#                 FROM kt-deno-worker:0.1.0
#                 COPY kt_functions /app/kt_functions
#     docker build --target worker -t kt-deno-worker:0.1.0 .
ARG DENO_VERSION=2.9.6

FROM node:22-bookworm-slim AS build
ARG DENO_VERSION
RUN npm install --global "deno@${DENO_VERSION}"
WORKDIR /src
COPY deno.json deno.lock main.ts ./
COPY src ./src
COPY scripts ./scripts
RUN deno install --frozen --entrypoint main.ts \
 && deno run -A scripts/compile.ts --target "$(uname -m | sed 's/arm64/aarch64/')-unknown-linux-gnu" --out /out \
 && mv /out/kt-deno-* /out/kt-deno

FROM gcr.io/distroless/cc-debian12:nonroot AS controller
COPY --from=build /out/kt-deno /usr/local/bin/kt-deno
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/kt-deno"]
CMD ["controller"]

FROM node:22-bookworm-slim AS worker
ARG DENO_VERSION
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 \
 && rm -rf /var/lib/apt/lists/* \
 && npm install --global "deno@${DENO_VERSION}" \
 && useradd --uid 10001 --create-home kt
WORKDIR /opt/kt-deno
COPY deno.json deno.lock main.ts ./
COPY src ./src
ENV DENO_DIR=/opt/kt-deno/.deno
RUN deno install --frozen --entrypoint main.ts \
 && printf '#!/bin/sh\nexec deno run -A --cached-only --config /opt/kt-deno/deno.json /opt/kt-deno/main.ts "$@"\n' \
      > /usr/local/bin/kt-deno \
 && chmod 755 /usr/local/bin/kt-deno \
 && mkdir -p /app/kt_functions \
 && chmod -R a+rX /opt/kt-deno
USER 10001
WORKDIR /app
ENTRYPOINT ["kt-deno"]
CMD ["task"]
