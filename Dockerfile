# syntax=docker/dockerfile:1
#
# The idvauth image: a static binary on distroless/static (CA certificates,
# tzdata, /etc/passwd with nonroot, no shell), running as 65532:65532.
#
#   docker build --build-arg VERSION=$(git describe --always) -t idvauth .
#   docker run --rm idvauth version
#
# The public listener is on 0.0.0.0:8080. The admin listener stays on its
# default, 127.0.0.1:8081: reachable only from inside the container
# (docker exec, kubectl exec or port-forward) unless IDVAUTH_ADMIN_ADDR
# says otherwise, and then only behind a network policy.
# deploy/dockerfile_test.go builds the binary with this file's go build
# line and runs this file's HEALTHCHECK against it.

ARG GO_VERSION=1.26.8

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=devel
# Static (no cgo), without local paths (-trimpath), without VCS stamping
# (.git is not in the build context); the version comes from VERSION and
# the module list from Go's build info (idvauth version, go version -m).
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags="-s -w -X github.com/idvauth/idvauth/authz/buildinfo.Version=${VERSION}" -o /out/idvauth ./cmd/idvauth

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/idvauth /usr/local/bin/idvauth
COPY LICENSE NOTICE /usr/share/doc/idvauth/
USER 65532:65532
ENV IDVAUTH_PUBLIC_ADDR=0.0.0.0:8080
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=15s --retries=3 CMD ["/usr/local/bin/idvauth", "health"]
ENTRYPOINT ["/usr/local/bin/idvauth"]
CMD ["serve"]
