# edgerag — the commands a developer and CI use. 'make help' lists them.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo none)
DATE    ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.date=$(DATE)
# Benchmarks: override to narrow, e.g. make bench BENCH=Query PKG=./node/...
BENCH   ?= .
PKG     ?= ./...
COUNT   ?= 5

.PHONY: help build run test test-deps test-side vet bench bench-peers bench-load bench-fleet clean ollama versitygw release install-test

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

build: ## build bin/edgerag (static, no cgo)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/edgerag .

run: build ## start a node on the embedded default, ingest the sample manuals, ask a question
	scripts/demo.sh

# vet builds with -race so that it shares its compiled packages with the
# race-enabled test binaries of `make test`: on a fresh machine every
# dependency is then compiled once, not twice.
vet: ## gofmt and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet -race ./...

# test overlaps what it can on a 2-core machine. The servers the integration
# tests start build in the background (scripts/test-tools.sh) while apt-get,
# vet and the tests run: a test that needs one waits for its build
# (node/nodetest/toolbuild). vet (-race) and build compile the tree in the
# two configurations every later step reuses: the race-enabled test binaries,
# and the tests' own builds of edgerag with make build's flags. The manifest
# module and the install tests run niced beside `go test`, on the CPU its
# sleeping process tests leave idle; their output follows the tests'.
test: ## every test, with the race detector (builds the Ollama server and the versitygw S3 gateway for the integration tests once, in the background)
	@scripts/test-tools.sh start versitygw ollama
	@$(MAKE) --no-print-directory -j3 test-deps vet build
	@side=$$(mktemp); \
	nice -n 19 $(TEST_SIDE) >"$$side" 2>&1 & pid=$$!; \
	echo '$(GO) test -race -vet=off -timeout 25m ./...'; \
	$(GO) test -race -vet=off -timeout 25m ./...; rc=$$?; \
	scripts/test-tools.sh wait; \
	wait $$pid; src=$$?; cat "$$side"; rm -f "$$side"; \
	[ $$rc = 0 ] && [ $$src = 0 ]

# How make test orders its work on a fresh machine, where it is CPU-bound:
# the Ollama build (minutes of C++) starts first, right after the two small
# packages it needs, so that it is done before the tests that wait for it;
# the other Debian packages install while the tree compiles (vet and build
# need none of them), and go test skips its own vet (-vet=off): make vet has
# run every analyzer over the same packages with the same flags.
test-deps:
	@scripts/test-deps.sh

# test-side is the part of make test that runs beside go test, among it the
# tests that are left out of race builds (//go:build !race) because they are
# arithmetic the race detector only slows down, five- to twentyfold: the
# quality and fleet bars (node/evalrun/qualitybar_test.go, fleetbar_test.go),
# the parsers' linear-time checks (node/chunk/fast_test.go) and pruning
# checked against exhaustive scoring (node/lexical/exhaustive_test.go).
# NORACE_TESTS names them. They reuse make build's compiled packages (same
# CGO_ENABLED and -trimpath). It is named through a variable so that
# `make -n test` (which runs every recipe line naming $$(MAKE) literally)
# prints the tests instead of running them.
TEST_SIDE = $(MAKE) --no-print-directory test-side
NORACE_TESTS = ^(TestQualityBar|TestFleetBar|TestFleetBarOneTopic|Test[A-Za-z]*IsFast|Test[A-Za-z]*MatchesExhaustive[A-Za-z]*)$$
test-side:
	cd deploy/kubernetes && $(GO) vet -race ./... && $(GO) test -race ./...
	CGO_ENABLED=0 $(GO) test -trimpath -run '$(NORACE_TESTS)' ./node/chunk ./node/lexical ./node/evalrun
	@$(MAKE) --no-print-directory install-test

install-test: build ## test scripts/install.sh and scripts/release.sh against bin/edgerag, in a scratch root
	INSTALL_TEST_BIN=bin/edgerag scripts/install_test.sh

release: ## static binaries for amd64, arm64 and armv7 with SHA256SUMS, in dist/
	VERSION='$(VERSION)' COMMIT='$(COMMIT)' DATE='$(DATE)' GO='$(GO)' scripts/release.sh

ollama: ## build the real Ollama server v0.24.0, its own engine only, once (about 5 minutes; cached under $${EDGERAG_CACHE:-$$HOME/.cache/edgerag})
	@scripts/ollama-server.sh

versitygw: ## build the versitygw v1.8.0 POSIX S3 gateway (scripts/s3gateway) once (about 1-2 minutes; cached under $${EDGERAG_CACHE:-$$HOME/.cache/edgerag})
	@scripts/versitygw-server.sh

bench: ## benchmarks (medians: pipe through benchstat); results go in BENCHMARKS.md
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchmem -count $(COUNT) $(PKG)

bench-peers: ## edgerag's BM25 beside Xapian and bleve at 10k and 100k chunks (SIZES="… 1000000" adds the slow 1M row)
	GO='$(GO)' scripts/bench-peers.sh
LOAD_ARGS ?=
bench-load: build ## surge benchmark: capacity, then 10x of it for 30 s (queries, queries+ingest); figures go in BENCHMARKS.md
	$(GO) run -tags benchload ./bench/load -bin bin/edgerag $(LOAD_ARGS)

EDGERAG_FLEET_EDGES ?= 10,100,1000
FLEET_EDGES ?= $(EDGERAG_FLEET_EDGES)
bench-fleet: versitygw ## fleet scale: two central replicas on a versitygw bucket, up to 1,000 simulated edges, a 1% change of a 100k-chunk shard (minutes); figures go in BENCHMARKS.md
	GOMEMLIMIT=4GiB EDGERAG_BENCH_FLEET=1 EDGERAG_FLEET_EDGES='$(FLEET_EDGES)' $(GO) test -run '^$$' -bench FleetScale -benchtime 1x -timeout 60m -v .
	EDGERAG_MILLION=1 $(GO) test -count=1 -run TestMillionChunkShardPublishesAndSyncs -timeout 30m -v ./sync/fleet/

clean:
	rm -rf bin dist
