# ottr — build and test.
GO       ?= go
BIN      ?= bin/ottr
PKGS     ?= ./...
# Debian packages the tests need; `make test` installs the missing ones
# when it runs as root.
TEST_DEBS ?= openssl openssh-server nginx haproxy bind9 postgresql prometheus python3-aiosmtpd chromium

.PHONY: build test test-short test-deps check bench killtest lab ui-screenshots clean

# build stamps the version (git describe) and commit into the binary, for
# `ottr version`; outside a git checkout they fall back to what Go records.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS ?= -X github.com/ottr-go/ottr/internal/version.version=$(VERSION) \
           -X github.com/ottr-go/ottr/internal/version.commit=$(COMMIT)

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/ottr

test: test-deps check
	$(GO) test -race -timeout 20m $(PKGS)

# test-short is the fast loop: the tests that start real servers (Debian's
# daemons, PostgreSQL), the cluster test and the kill test skip, one line
# each (go test -short -v shows them); `make test` runs them all.
test-short:
	$(GO) test -short $(PKGS)

# test-deps installs what the tests need from Debian, when it can.
test-deps:
	@scripts/test-deps.sh $(TEST_DEBS)

# check fails on unformatted code and vet findings.
check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

# killtest kills a serve rotating 300 lab devices 10 times and counts what
# was lost, stuck or ordered twice (BENCHMARKS.md); SEED=n replays a run.
# `make test` runs it with 60 devices and 5 kills.
KILLTEST_DEVICES ?= 300
KILLTEST_KILLS   ?= 10
killtest:
	$(GO) test -count=1 -v -run TestKilledServe -timeout 60m ./internal/killtest \
	  -killtest.devices=$(KILLTEST_DEVICES) -killtest.kills=$(KILLTEST_KILLS) -killtest.settle=5m \
	  $(if $(SEED),-killtest.seed=$(SEED))

lab:
	$(GO) run ./cmd/ottr lab

# ui-screenshots drives the web UI in headless Chromium against the lab
# and saves its main screens in docs/ui/ (the README shows one).
ui-screenshots: test-deps
	$(GO) test -count=1 -run . ./internal/ui/browsertest -ui.screenshots=$(CURDIR)/docs/ui

clean:
	rm -rf bin
