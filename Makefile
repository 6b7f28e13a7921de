# duet — GNU Makefile.
#   make            library (build/libduet.a, build/libduet.so.MAJOR) and the `duet` program
#   make demo       install missing packages, build, train and evaluate a spam filter
#   make test       install missing packages, build, run every test, replay each fuzz target's
#                   seeds and past crashes, then the tests again under ASan/UBSan; the last line
#                   sums all three: "N passed, N failed, N skipped". The same verdict on every run
#                   and machine for a commit: no timed assertions, no fixed-time fuzzing
#   make fuzz       the libFuzzer targets (clang), FUZZ_TIME seconds each (default 60): exploration,
#                   never part of make test; make fuzz-replay runs each seed and regression once
#   make asan       the tests under AddressSanitizer and UBSan
#   make bench      benchmarks against LIBLINEAR, scikit-learn and PyTorch (never gates anything);
#                   make bench-gpt: the language model's part alone; make bench-serve: the server
#                   under wrk against scikit-learn behind Python's HTTP server
# Knobs: OMP=auto|0|1  BLAS=auto|0|1  NATIVE=0|1  DEBUG=0|1  SAN=address,undefined
# (explicit values override detection).

MAJOR := 0
CC ?= cc
OMP ?= auto
BLAS ?= auto
NATIVE ?= 0
DEBUG ?= 0
SAN ?=
BUILD ?= build

WARN := -Wall -Wextra -Wshadow -Wpointer-arith -Wcast-qual -Wwrite-strings \
        -Wmissing-prototypes -Wstrict-prototypes -Wundef -Wformat=2 -Wvla
CFLAGS_BASE := -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -fPIC -fvisibility=hidden $(WARN)
ifeq ($(DEBUG),1)
  OPT := -O0 -g3
else
  # GCC's -O2 vectorizes only loops whose trip count the vectors cover exactly; the dynamic cost
  # model (-O3's) also takes loops with a scalar tail and checked aliasing: 2-3 % more U-Net
  # images/s, same results (no reassociation). Clang has no such flag (the fuzz build).
  OPT := -O2 -g $(shell echo 'int main(void){return 0;}' | $(CC) -fvect-cost-model=dynamic -x c - -o /dev/null 2>/dev/null && echo -fvect-cost-model=dynamic)
endif
ifeq ($(NATIVE),1)
  OPT += -O3 -march=native
else
  OPT += -mavx2 -mfma
endif
ifneq ($(SAN),)
  OPT += -fsanitize=$(SAN) -fno-omit-frame-pointer -fno-sanitize-recover=all
  LDSAN := -fsanitize=$(SAN)
  BUILD := build-san
endif

# --- feature detection (pkg-config) ------------------------------------------------------------
have = $(shell pkg-config --exists $(1) 2>/dev/null && echo 1 || echo 0)
PKGS := libcjson libutf8proc zlib libpcre2-8 libpng
ifeq ($(BLAS),auto)
  BLAS := $(call have,openblas)
endif
ifeq ($(BLAS),1)
  PKGS += openblas
  DEFS += -DDT_HAVE_BLAS=1
endif
ifeq ($(OMP),auto)
  OMP := $(shell echo 'int main(void){return 0;}' | $(CC) -fopenmp -x c - -o /dev/null 2>/dev/null && echo 1 || echo 0)
endif
ifeq ($(OMP),1)
  OPT += -fopenmp
  LDOMP := -fopenmp
else
  OPT += -Wno-unknown-pragmas
endif

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CFLAGS := $(CFLAGS_BASE) $(OPT) $(DEFS) -Iinclude $(PKG_CFLAGS) $(EXTRA_CFLAGS)
LDLIBS := $(PKG_LIBS) -lm -lpthread $(LDOMP) $(LDSAN)

SRC := $(wildcard src/core/*.c src/data/*.c src/io/*.c src/nn/*.c src/models/*.c src/*.c)
OBJ := $(SRC:%.c=$(BUILD)/%.o)
# MPI (Open MPI's development files): `mpirun -np N duet train` trains data-parallel; without
# them duet builds and runs as one process. MPI=auto|0|1
MPI ?= auto
ifeq ($(MPI),auto)
  MPI := $(call have,ompi-c)
endif
ifeq ($(MPI),1)
  MPI_CFLAGS := -DDUET_HAVE_MPI $(shell pkg-config --cflags ompi-c 2>/dev/null)
  MPI_LIBS := $(shell pkg-config --libs ompi-c 2>/dev/null)
endif
CLI_SRC := $(wildcard cli/*.c)
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/%.o)
# the server (duet serve) is part of the program, on libmicrohttpd; it sees only include/duet.h
SRV_SRC := $(wildcard server/*.c)
SRV_OBJ := $(SRV_SRC:%.c=$(BUILD)/%.o) $(BUILD)/server/page.o
SRV_CFLAGS := $(shell pkg-config --cflags libcjson libmicrohttpd 2>/dev/null)
SRV_LIBS := $(shell pkg-config --libs libmicrohttpd 2>/dev/null) -lpthread
TEST_SRC := $(wildcard tests/unit/test_*.c)
TEST_BIN := $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all deps test-deps demo test check asan bench bench-gpt bench-gbdt bench-serve bench-mpi bench-stream clean features fuzz fuzz-bins fuzz-replay FORCE
all: features $(BUILD)/libduet.a $(BUILD)/libduet.so.$(MAJOR) duet$(if $(SAN),-san)

features:
	@printf '%s openmp  %s blas  %s mpi  %s sanitizers(%s)\n' \
	  $(if $(filter 1,$(OMP)),✓,✗) $(if $(filter 1,$(BLAS)),✓,✗) $(if $(filter 1,$(MPI)),✓,✗) $(if $(SAN),✓,✗) '$(SAN)'

# Objects and programs depend on the flags they were built with and on the optional features
# found (OpenMP, BLAS, MPI, the server's libraries): installing Open MPI after `make demo`, or any
# change of CFLAGS or OPT, rebuilds everything on the next make.
FORCE:
BUILD_STAMP := $(CC) $(CFLAGS) $(OPT) | mpi=$(MPI) $(MPI_CFLAGS) $(MPI_LIBS) | $(SRV_CFLAGS) $(SRV_LIBS) | $(LDLIBS)
$(BUILD)/.flags: FORCE
	@mkdir -p $(BUILD)
	@echo '$(BUILD_STAMP)' | cmp -s - $@ || echo '$(BUILD_STAMP)' > $@

$(BUILD)/%.o: %.c $(wildcard include/*.h src/*/*.h src/*.h) $(BUILD)/.flags
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

# cli/ sees only include/duet.h
$(BUILD)/cli/%.o: cli/%.c include/duet.h $(wildcard cli/*.h) $(BUILD)/.flags
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_POSIX_C_SOURCE=200809L $(OPT) $(WARN) -Iinclude $(MPI_CFLAGS) -c $< -o $@

$(BUILD)/server/%.o: server/%.c include/duet.h cli/cli.h server/server.h $(BUILD)/.flags
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE $(OPT) $(WARN) -Iinclude -Icli $(SRV_CFLAGS) $(EXTRA_CFLAGS) -c $< -o $@

$(BUILD)/server/page.c: server/page.html tools/embed.sh
	@mkdir -p $(dir $@)
	sh tools/embed.sh $< srv_page_html > $@

$(BUILD)/server/page.o: $(BUILD)/server/page.c
	$(CC) -std=c11 $(OPT) -c $< -o $@

$(BUILD)/libduet.a: $(OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/libduet.so.$(MAJOR): $(OBJ) $(BUILD)/.flags
	$(CC) -shared -Wl,-soname,libduet.so.$(MAJOR) -o $@ $(OBJ) $(LDLIBS)
	@ln -sf libduet.so.$(MAJOR) $(BUILD)/libduet.so

duet$(if $(SAN),-san): $(CLI_OBJ) $(SRV_OBJ) $(BUILD)/libduet.a $(BUILD)/.flags
	$(CC) -o $@ $(CLI_OBJ) $(SRV_OBJ) $(BUILD)/libduet.a $(LDLIBS) $(SRV_LIBS) $(MPI_LIBS)

$(BUILD)/tests/%: tests/unit/%.c tests/test.h tests/test_mat.h tests/test_images.h $(BUILD)/libduet.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Isrc -Itests -o $@ $< $(BUILD)/libduet.a $(LDLIBS)

deps:
	@sh tools/install-deps.sh

test-deps:
	@sh tools/install-deps.sh test

demo: deps
	@$(MAKE) --no-print-directory all
	@sh tools/demo.sh

# DUET_EXPECT_MPI: make found Open MPI, so the program must have it (test_mpi.sh fails, not
# skips, on a duet built without it)
check: all $(TEST_BIN)
	@DUET_EXPECT_MPI=$(MPI) sh tests/run.sh $(BUILD) ./duet$(if $(SAN),-san)

# the whole suite, each fuzz target's seeds and past crashes replayed once, then the suite again
# under AddressSanitizer and UBSan; the last line sums the three
test: test-deps
	@sh tools/test.sh $(MAKE)

asan:
	@$(MAKE) --no-print-directory check SAN=address,undefined

$(BUILD)/fit_time: bench/fit_time.c $(BUILD)/libduet.a
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libduet.a $(LDLIBS)

$(BUILD)/allreduce: bench/allreduce.c
	$(CC) -O2 $(MPI_CFLAGS) -o $@ $< $(MPI_LIBS)

bench: deps all $(BUILD)/fit_time
	@sh bench/run.sh
	@sh bench/gpt.sh
	@sh bench/images.sh
	@sh bench/serve.sh
	@sh bench/gbdt.sh

bench-gbdt: deps all
	@sh bench/gbdt.sh

bench-serve: deps all
	@sh bench/serve.sh

bench-stream: all
	@sh bench/stream.sh

bench-mpi: deps all
	@sh bench/mpi.sh

bench-gpt: deps all
	@sh bench/gpt.sh

# libFuzzer targets (tests/fuzz/fuzz_*.c), built with clang under ASan and UBSan in build-fuzz/;
# `make fuzz` runs each for FUZZ_TIME seconds from its seeds (tests/fuzz/seeds/) and past
# crashes (tests/fuzz/regress/), and prints executions and coverage per target (the fuzz build
# skips model files' checksum so that damaged tensors reach the checks behind it)
FUZZ_TIME ?= 60
FUZZ_TARGETS := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
fuzz-bins: $(FUZZ_TARGETS:%=$(BUILD)/fuzz/fuzz_%)

$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(BUILD)/libduet.a $(BUILD)/server/pool.o $(BUILD)/server/handlers.o
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Isrc -Iserver -Itests/fuzz $(SRV_CFLAGS) -fsanitize=fuzzer -o $@ $< \
	  $(if $(filter server,$*),$(BUILD)/server/pool.o $(BUILD)/server/handlers.o) $(BUILD)/libduet.a $(LDLIBS) -lpthread

FUZZ_BUILD := $(MAKE) --no-print-directory fuzz-bins CC=clang OMP=0 SAN=address,undefined BUILD=build-fuzz \
	  EXTRA_CFLAGS='-fsanitize=fuzzer-no-link -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION'
fuzz:
	@$(FUZZ_BUILD)
	@sh tools/fuzz.sh build-fuzz $(FUZZ_TIME) $(FUZZ_TARGETS)

fuzz-replay:
	@$(FUZZ_BUILD)
	@sh tools/fuzz.sh build-fuzz replay $(FUZZ_TARGETS)

clean:
	rm -rf build build-san build-fuzz duet duet-san
