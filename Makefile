# spanflow — `make demo` and `make test` are the two commands a fresh
# machine needs; both install what they use through scripts/setup.sh.
SHELL := /bin/bash
GO ?= go
CLANG ?= clang-14
export BPF2GO_CC := $(CLANG)
export BPF2GO_STRIP := llvm-strip-14
FUZZTIME ?= 20s
BIN := bin/spanflow

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

.PHONY: setup
setup: ## install build and test dependencies (apt-get)
	@scripts/setup.sh

.PHONY: generate
generate: setup ## rebuild the XDP objects and their Go bindings from bpf/**/*.c
	$(GO) generate ./bpf/...

.PHONY: check-generated
check-generated: setup ## fail when the committed BPF objects differ from the C source
	@scripts/check-generated.sh

.PHONY: build
build: ## build bin/spanflow (no clang needed: BPF objects are committed)
	CGO_ENABLED=0 $(GO) build -o $(BIN) ./cmd/spanflow

.PHONY: test
test: setup check-generated build ## run every test (privileged ones need root), plus a short fuzz run
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 20m ./...
	$(GO) test -count=1 -run '^$$' -fuzz '^FuzzXDPVersusReference$$' -fuzztime $(FUZZTIME) ./probe

.PHONY: fuzz
fuzz: setup ## run the differential fuzzer longer (FUZZTIME=10m)
	$(GO) test -run '^$$' -fuzz '^FuzzXDPVersusReference$$' -fuzztime $(FUZZTIME) ./probe

.PHONY: bench
bench: setup build ## run the benchmarks; results go to bench/results/
	@scripts/bench.sh

.PHONY: bench-peers
bench-peers: setup build ## spanflow vs softflowd vs pmacctd on the same traffic (root, ~10 min); writes bench/results/peers.md and peers.png
	@scripts/bench-peers.sh

.PHONY: demo
demo: setup build ## walk the NetFlow lecture (IP key, 7-tuple, bidirectional, application, aggregate) live in test namespaces
	@scripts/demo.sh

.PHONY: lint
lint: setup ## gofmt, go vet, staticcheck and clang-format on bpf/
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@latest ./...
	@if command -v clang-format-14 >/dev/null; then clang-format-14 --dry-run -Werror bpf/*.c bpf/*.h; fi

.PHONY: clean
clean: ## remove build output
	rm -rf bin
