# faultline: the two set-up commands are `make demo` and `make test`.
# Both install missing Debian packages first (scripts/install-deps.sh).

JOBS ?= $(shell nproc)
RELEASE_DIR := build/release
TEST_DIR := build/asan

.PHONY: all deps build demo test test-build bench bench-ingest bench-search bench-signals clean

all: build

deps:
	@scripts/install-deps.sh

$(RELEASE_DIR)/build.ninja:
	cmake -S . -B $(RELEASE_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Release \
	  -DFAULTLINE_BUILD_TESTS=OFF -DFAULTLINE_BUILD_BENCH=ON

build: deps $(RELEASE_DIR)/build.ninja
	ninja -C $(RELEASE_DIR) -j$(JOBS)

demo: build
	scripts/demo.sh $(RELEASE_DIR)

$(TEST_DIR)/build.ninja:
	cmake -S . -B $(TEST_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-g -O1" \
	  -DFAULTLINE_SANITIZER=address+undefined -DFAULTLINE_WERROR=ON \
	  -DFAULTLINE_BUILD_BENCH=OFF

test-build: deps $(TEST_DIR)/build.ninja
	ninja -C $(TEST_DIR) -j$(JOBS)

# Every test: unit and integration, under AddressSanitizer + UBSan.
test: test-build
	cd $(TEST_DIR) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --output-on-failure -j$(JOBS) --timeout 600

bench: bench-ingest bench-search bench-signals

bench-ingest:
	FAULTLINE_BENCH_DEPS=1 scripts/install-deps.sh
	$(MAKE) build
	bench/ingest.sh $(RELEASE_DIR)/tools/faultline

bench-search:
	FAULTLINE_BENCH_DEPS=1 scripts/install-deps.sh
	$(MAKE) build
	bench/search.sh $(RELEASE_DIR)/tools/faultline

bench-signals:
	$(MAKE) build
	bench/signals.sh $(RELEASE_DIR)/tools/faultline

clean:
	rm -rf build
