# pretrain-check. `make help` lists the targets.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
export GOTOOLCHAIN := local
export PATH := /usr/local/go/bin:$(PATH)

GO      ?= go
BIN     := $(CURDIR)/bin
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.DEFAULT_GOAL := help

-include fixtures/images/images.mk
-include fixtures/kind/kind.mk

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | sort | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

.PHONY: build
build: ## build bin/pretrain-check and bin/mwstub
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/pretrain-check ./cmd/pretrain-check
	CGO_ENABLED=0 $(GO) build -o $(BIN)/mwstub ./cmd/mwstub

.PHONY: vet
vet: ## go vet, including the e2e tier's build tag
	$(GO) vet ./...
	$(GO) vet -tags e2e ./...

.PHONY: test
# -p 4 on 2 cores: many tests wait (rate caps, poll budgets, child
# processes), so two packages at a time left the CPUs idle (118 s vs 87 s).
test: vet ## vet, then every test (unit, in-process replica, wrong-router proofs) with -race
	$(GO) test -race -count=1 -p 4 -timeout 20m ./...

.PHONY: bench
bench: ## benchmarks (figures for the README)
	$(GO) test -run '^$$' -bench . -benchmem -count 3 ./harness/stub/

.PHONY: figures
figures: ## the speed figures beside their anchors (bare kind create), one run; FIGURES_ARGS="--make-test --make-e2e --vegeta" for more
	bash harness/figures/figures.sh $(FIGURES_ARGS)

.PHONY: lint-contract
lint-contract: ## validate the built-in routing contract
	$(GO) run ./cmd/pretrain-check contract lint fixtures/contract/pretrain.yaml
