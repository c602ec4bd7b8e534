# apicv-emu — a thin wrapper over CMake. `make run` and `make test` are the
# two commands of the README's Quick start; both install what is missing on
# a fresh Debian 12 machine when run as root.

BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 600
FUZZ_SEED  ?= 1
FUZZ_MACHINE_SECONDS ?= $(FUZZ_SECONDS)
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
DEPS       := cmake gcc make pkg-config libcapstone-dev libsdl2-dev libsdl2-ttf-dev \
              fonts-dejavu-core check xvfb xauth clang gdb \
              python3 gtkwave
# The main job: the default scenario, posted interrupts between two vCPUs
# (the window opens when a display exists, else it runs headless).
RUN        ?= scenarios/posted_demo.scn
KUT_MODE   ?= native

.PHONY: all deps configure build run test asan asan-test fuzz bench bench-window kvm-unit-tests lint screenshots clean help

all: build

help:
	@echo "make run        build (Release) and run the default scenario (RUN=file to change)"
	@echo "make test       build and run the whole suite through ctest"
	@echo "make asan       the whole suite under AddressSanitizer + UBSan ($(ASAN_BUILD)/)"
	@echo "make fuzz       fuzz the parsers, then replay mutated traces and run generated guests in every mode,"
	@echo "                all under ASan+UBSan (FUZZ_SECONDS=600, FUZZ_MACHINE_SECONDS=FUZZ_SECONDS, FUZZ_SEED=1)"
	@echo "make bench      guest MIPS of the benchmark guests (Release)"
	@echo "make bench-window  MIPS with and without the window (under Xvfb)"
	@echo "make kvm-unit-tests KUT=DIR  kvm-unit-tests' APIC kernels from your checkout DIR, natively (KUT_MODE=posted: under the hypervisor)"
	@echo "make lint       cppcheck and clang-tidy over the sources"
	@echo "make screenshots  make the emulator's pictures in docs/images/ again (README, docs/)"
	@echo "make clean      remove the build directories"

# Installs missing Debian packages when root; otherwise names the one command to run.
deps:
	@missing=""; for p in $(DEPS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null || exit 1; \
	  else \
	    echo "Missing packages. Run:"; echo "  sudo apt-get install -y$$missing"; exit 1; \
	  fi; \
	fi

configure: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null

build: configure
	@cmake --build $(BUILD) -j$(JOBS)

run: build
	./$(BUILD)/apicv-emu run --stats $(RUN)

test: build
	ctest --test-dir $(BUILD) --output-on-failure -j$(JOBS)

asan asan-test: deps
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DAPICV_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j$(JOBS)
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --test-dir $(ASAN_BUILD) --output-on-failure -j$(JOBS)

# The input parsers under ASan+UBSan for FUZZ_SECONDS, then the machine
# (mutated traces replayed, generated guests in every mode) for
# FUZZ_MACHINE_SECONDS; a crash, sanitizer report, hang or refusal without a
# message leaves its input in /tmp/fuzz-crashes/. Both run, then the first
# failure's status is returned.
fuzz: deps
	@cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=Debug -DAPICV_SANITIZE=ON >/dev/null
	@cmake --build $(FUZZ_BUILD) -j$(JOBS) --target fuzz_inputs fuzz_machine apicv-emu
	@st=0; \
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ./$(FUZZ_BUILD)/tests/fuzz_inputs --seconds $(FUZZ_SECONDS) --seed $(FUZZ_SEED) || st=$$?; \
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ./$(FUZZ_BUILD)/tests/fuzz_machine --seconds $(FUZZ_MACHINE_SECONDS) --seed $(FUZZ_SEED) || \
	  { [ $$st -ne 0 ] || st=$$?; }; \
	exit $$st

bench: build
	./$(BUILD)/apicv-emu bench

bench-window: build
	tools/bench_window.sh $(BUILD)

# The pictures README.md and docs/ show, drawn by the emulator off screen.
screenshots: build
	tools/screenshots.sh $(BUILD)

# kvm-unit-tests' apic/ioapic/smptest/vmexit kernels from the user's own
# checkout (never part of `make test`; README "kvm-unit-tests").
kvm-unit-tests: build
	@[ -n "$(KUT)" ] || { echo "make kvm-unit-tests: give KUT=path/to/kvm-unit-tests"; exit 2; }
	tools/kvm-unit-tests.sh --emu $(BUILD)/apicv-emu --mode $(KUT_MODE) $(KUT)

lint: configure
	cppcheck --quiet --enable=warning,performance,portability --error-exitcode=1 \
	  --suppress=missingIncludeSystem -I . cpu apic vmx emu traces ui
	clang-tidy -p $(BUILD) --quiet $$(git ls-files 'cpu/*.c' 'apic/*.c' 'vmx/*.c' 'traces/*.c' 'emu/*.c' 'ui/*.c')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
