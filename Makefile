# bitdial top-level commands. `make test` and `make demo` are the whole set-up on a fresh Debian 12
# machine: they install missing packages (as root, through apt-get), configure, build and run.
#   make test    build everything and run the test suite twice: native SIMD path, then BITDIAL_FORCE_ISA=scalar
#   make demo    build and run the demo (examples/demo.sh)
#   make bench   build and run the Google Benchmark micro-benchmarks, then the end-to-end table
#                (scripts/bench-e2e.sh: llama-1b shape, Q4_0/Q4_K_M/Q8_0/F16, pp512/tg128 vs llama.cpp)
#   make fuzz    build the libFuzzer targets with clang and run each for FUZZ_SECONDS (default 60)
#   make build   configure and build only
BUILD ?= build
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

DEPS := cmake ninja-build g++ make pkg-config libgtest-dev libgmock-dev libbenchmark-dev nlohmann-json3-dev \
        libcli11-dev libyaml-cpp-dev libcpp-httplib-dev libsqlite3-dev libpcre2-dev libeigen3-dev libssl-dev \
        libpng-dev chromium
FUZZ_DEPS := clang-14 libclang-rt-14-dev
# scripts/bench-e2e.sh and scripts/qat-compare.sh read bitdial's JSON with jq.
BENCH_DEPS := jq

.PHONY: all deps fuzz-deps bench-deps build test demo bench fuzz clean

all: build

# Installs whatever of $(DEPS) is missing; needs root (or prints what to install).
deps:
	@scripts/install-deps.sh $(DEPS)

fuzz-deps:
	@scripts/install-deps.sh $(FUZZ_DEPS)

bench-deps:
	@scripts/install-deps.sh $(BENCH_DEPS)

$(BUILD)/build.ninja: CMakeLists.txt
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release

build: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 600
	cd $(BUILD) && BITDIAL_FORCE_ISA=scalar ctest --output-on-failure -j $(JOBS) --timeout 600

demo: build
	BITDIAL=$(BUILD)/bitdial examples/demo.sh

bench: build bench-deps
	@for b in $(BUILD)/*_bench; do echo "== $$b"; $$b --benchmark_min_time=0.2; done
	BITDIAL=$(BUILD)/bitdial BENCH_DIR=$(BUILD)/bench-models scripts/bench-e2e.sh

fuzz: deps fuzz-deps
	CXX=clang++-14 cmake -S . -B $(FUZZ_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBITDIAL_FUZZ=ON \
	  -DBITDIAL_TESTS=OFF -DBITDIAL_BENCH=OFF
	cmake --build $(FUZZ_BUILD) -j $(JOBS)
	FUZZ_BUILD=$(FUZZ_BUILD) FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/run-fuzzers.sh

clean:
	rm -rf $(BUILD) $(FUZZ_BUILD)
