# Samsa: `make test` is the one command CI runs (see .ci/run).
GO ?= go

.PHONY: test build vet fuzz bench clean

build:
	$(GO) build -o bin/samsa ./cmd/samsa

vet:
	$(GO) vet ./...

# Unit and package tests run with the race detector; the client-interop and crash suites in
# test/ start real processes and clients and run without it to stay fast.
test: vet
	$(GO) test -race -count=1 -timeout 10m $$($(GO) list ./... | grep -v /test/)
	$(GO) test -count=1 -timeout 10m ./test/...

# Short fuzzing pass over every fuzz target (the seeds also run as regression tests in `make test`).
FUZZTIME ?= 30s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./internal/... ./stream/...

clean:
	rm -rf bin
