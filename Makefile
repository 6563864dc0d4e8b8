# msg5g: `make run` starts the platform with its carrier simulator; `make test` runs lint and the suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help install run test lint fmt bench bench-capacity bench-accept bench-e2e bench-latency bench-channels bench-groups bench-templates bench-materials browser clean

help:
	@echo "make run     set up everything, seed the demo tenant and start the platform on http://127.0.0.1:8000"
	@echo "make test    lint (ruff, mypy, import-linter) then the whole test suite"
	@echo "make bench   all benchmarks (BENCH_N=20000 recipients by default); bench-accept, bench-e2e, bench-latency"
	@echo "make lint    ruff, mypy and the layer contracts only"

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/msg5g dev

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

fmt: $(STAMP)
	$(BIN)/ruff check --fix src tests bench

# Debian's chromium for the Playwright tests (Playwright's own browser download cannot work here) and ffmpeg for
# audio/video durations and poster frames.
browser:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || \
		echo "chromium could not be installed: the browser test will be skipped"
	@command -v ffprobe >/dev/null 2>&1 || (apt-get install -y -qq --no-install-recommends ffmpeg >/dev/null) || \
		echo "ffmpeg could not be installed: audio/video durations and poster frames are not made, their tests skip"

# Two processes: most tests wait on loopback servers and carrier simulators, not on the CPU.
TEST_WORKERS ?= 2
test: $(STAMP) lint browser
	$(BIN)/pytest -q -n $(TEST_WORKERS); status=$$?; if [ $$status -eq 5 ]; then echo "no tests collected"; exit 1; fi; exit $$status

BENCH_N ?= 20000
bench: bench-accept bench-e2e bench-latency bench-templates bench-capacity bench-auto-reply

# Uplink to auto-reply latency at 200 uplinks/s, then the knee where p99 passes one second.
bench-auto-reply: $(STAMP)
	$(BIN)/python -m bench.auto_reply --rate 200 --seconds 10

# The end-to-end bench without and with capacity caps, alternately, 3 rounds.
bench-capacity: $(STAMP)
	$(BIN)/python -m bench.capacity --recipients $(BENCH_N) --rounds 3

bench-templates: $(STAMP)
	$(BIN)/python -m bench.templates

# 1,000 materials to a newly added China Unicom chatbot (not part of `make bench`: about a minute).
bench-materials: $(STAMP)
	$(BIN)/python -m bench.material_sync --materials 1000

bench-accept: $(STAMP)
	$(BIN)/python -m bench.accept --recipients $(BENCH_N)

bench-e2e: $(STAMP)
	$(BIN)/python -m bench.end_to_end --recipients $(BENCH_N)

bench-latency: $(STAMP)
	$(BIN)/python -m bench.latency --rate 500 --seconds 10

# The end-to-end bench through each channel type's simulator, then a mix of all five, as one table
# (BENCH_ROUNDS interleaved rounds, medians shown). docs/benchmarks.md says what each figure means.
BENCH_ROUNDS ?= 1
.PHONY: bench-channels
bench-channels: $(STAMP)
	$(BIN)/python -m bench.channels --recipients $(BENCH_N) --rounds $(BENCH_ROUNDS)

bench-groups: $(STAMP)
	$(BIN)/python -m bench.group_sends --recipients $(BENCH_N)

# Chatbot directory search over 100,000 generated chatbots on SQLite and PostgreSQL (PostgreSQL skipped when
# absent), p50/p99 per kind of query; not part of `make bench`: loading takes a few minutes.
.PHONY: bench-directory
bench-directory: $(STAMP)
	$(BIN)/python -m bench.directory --chatbots 100000 --queries 1000

clean:
	rm -rf var .mypy_cache .ruff_cache
