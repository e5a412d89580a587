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

# make install: DESTDIR and PREFIX as usual (PREFIX=/usr/local by default).
PREFIX ?= /usr/local
SYSCONFDIR ?= /etc
UNITDIR ?= $(SYSCONFDIR)/systemd/system
DEB ?= bin/spanflow.deb
VERSION ?= $(or $(shell git describe --tags --match 'v*' 2>/dev/null | sed 's/^v//'),0.0.0+git$(shell git rev-parse --short HEAD))

# bin/spanflow-%.service: the unit with ExecStart pointing at BINDIR.
bin/spanflow-%.service: scripts/spanflow.service
	@mkdir -p bin
	sed 's|/usr/local/bin/spanflow|$(subst _,/,$*)/spanflow|' $< > $@

.PHONY: install
install: build bin/spanflow-$(subst /,_,$(PREFIX))_bin.service ## install binary, systemd unit and /etc/default/spanflow (DESTDIR, PREFIX); creates the spanflow user when DESTDIR is empty
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/spanflow
	install -D -m 0644 bin/spanflow-$(subst /,_,$(PREFIX))_bin.service $(DESTDIR)$(UNITDIR)/spanflow.service
	@test -e $(DESTDIR)$(SYSCONFDIR)/default/spanflow || install -D -m 0644 scripts/spanflow.env $(DESTDIR)$(SYSCONFDIR)/default/spanflow
	@if [ -z "$(DESTDIR)" ] && ! getent passwd spanflow >/dev/null; then \
		useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin spanflow; fi
	@echo "edit $(DESTDIR)$(SYSCONFDIR)/default/spanflow, then: systemctl daemon-reload && systemctl enable --now spanflow"

.PHONY: deb
deb: build bin/spanflow-_usr_bin.service ## build the Debian package $(DEB) with nfpm (spanflow user, least-privilege unit)
	VERSION=$(VERSION) $(GO) tool nfpm package --config scripts/deb/nfpm.yaml --packager deb --target $(DEB)

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
