# make build: bin/idvauth with its version, commit and build time stamped
# in (idvauth version). `go install ./cmd/idvauth` works too, without the
# build time.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null)
PKG     := github.com/idvauth/idvauth/authz/buildinfo
LDFLAGS := -X $(PKG).Version=$(VERSION) -X $(PKG).Commit=$(COMMIT) -X $(PKG).Time=$(shell date -u +%Y-%m-%dT%H:%M:%SZ)

.PHONY: build test
build:
	CGO_ENABLED=0 go build -trimpath -ldflags "$(LDFLAGS)" -o bin/idvauth ./cmd/idvauth

test:
	go test -race ./...
