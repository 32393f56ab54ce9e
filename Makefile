# librnn -- plain Makefile.
#   make                 lib/librnn.a, lib/librnn.so.MAJOR (+ lib/librnn.so), rnn.pc, bin/rnnlm
#   make check           the Check test suites (+ PyTorch golden data when python3-torch is present)
#   make install PREFIX=/usr/local
#   make BLAS=ref        link the reference CBLAS (Debian libblas-dev) instead of OpenBLAS
#   make CC=clang        GCC or Clang (the kernels use GNU C vector extensions)
#   make MPI=0           bin/rnnlm without data-parallel training over MPI (built with it when
#                        Open MPI's mpicc is found; librnn never uses MPI)
.SUFFIXES:

CC      ?= cc
PREFIX  ?= /usr/local
LIBDIR  ?= $(PREFIX)/lib
INCDIR  ?= $(PREFIX)/include
BINDIR  ?= $(PREFIX)/bin
PYTHON  ?= /usr/bin/python3
BLAS    ?= openblas
MULTIARCH := $(shell $(CC) -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)

MAJOR   := $(shell sed -n 's/^\#define RNN_VERSION_MAJOR \([0-9]*\).*/\1/p' include/rnn.h)
VERSION := $(shell sed -n 's/^\#define RNN_VERSION_STRING "\(.*\)"/\1/p' include/rnn.h)

OPT     ?= -O2
CFLAGS  ?= $(OPT) -g
WARN    := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes
ALL_CFLAGS = -std=c11 -D_POSIX_C_SOURCE=200809L $(WARN) -fPIC -fvisibility=hidden -ffp-contract=off \
             -Iinclude -Isrc $(BLAS_CFLAGS) $(SAN_FLAGS) $(CFLAGS)

ifeq ($(BLAS),openblas)
BLAS_CFLAGS := $(shell pkg-config --cflags openblas 2>/dev/null)
BLAS_LIBS   := $(shell pkg-config --libs openblas 2>/dev/null || echo -lopenblas)
BLAS_PC     := openblas
else ifeq ($(BLAS),ref)
REF_BLAS_DIR ?= /usr/lib/$(MULTIARCH)/blas
BLAS_CFLAGS :=
BLAS_LIBS   := -L$(REF_BLAS_DIR) -Wl,-rpath,$(REF_BLAS_DIR) -lblas
BLAS_PC     := blas-netlib
else
$(error BLAS must be openblas or ref)
endif

ifeq ($(SANITIZE),1)
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
endif

LIBS    = $(BLAS_LIBS) -lm -pthread
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null || echo -lcheck -lsubunit -lrt -lm -lpthread)

B := build/$(BLAS)$(if $(SANITIZE),-san)

LIB_SRC  := $(sort $(wildcard src/*.c))
LIB_OBJ  := $(LIB_SRC:src/%.c=$(B)/src/%.o)
# rnnlm's MPI part: cli_mpi.c when mpicc is found (MPI=1), else cli_mpi_none.c; the test programs
# always link the latter (one process, no MPI library)
MPICC   ?= mpicc
MPI     ?= $(if $(shell command -v $(MPICC) 2>/dev/null),1,0)
ifeq ($(MPI),1)
MPI_CFLAGS := $(shell $(MPICC) --showme:compile 2>/dev/null)
MPI_LIBS   := $(shell $(MPICC) --showme:link 2>/dev/null)
MPI_OBJ    := cli_mpi.o
else
MPI_OBJ    := cli_mpi_none.o
endif
CLI_SRC  := $(sort $(filter-out src/rnnlm/cli_mpi.c src/rnnlm/cli_mpi_none.c,$(wildcard src/rnnlm/*.c)))
CLI_BASE := $(CLI_SRC:src/rnnlm/%.c=$(B)/rnnlm/%.o)
CLI_OBJ  := $(CLI_BASE) $(B)/rnnlm/$(MPI_OBJ)
CLI_LIB_OBJ := $(filter-out $(B)/rnnlm/main.o,$(CLI_BASE)) $(B)/rnnlm/cli_mpi_none.o
TEST_SRC := $(sort $(wildcard tests/test_*.c))
TEST_BIN := $(TEST_SRC:tests/%.c=$(B)/tests/%)

# The default build writes lib/ and bin/ at the top; other variants (BLAS=ref, SANITIZE=1) keep
# theirs under build/<variant>/ so that they never overwrite each other.
ifeq ($(BLAS)$(SANITIZE),openblas)
OUT := .
else
OUT := $(B)
endif
STATIC := $(OUT)/lib/librnn.a
SHARED := $(OUT)/lib/librnn.so.$(MAJOR)
RNNLM  := $(OUT)/bin/rnnlm

CLI := $(if $(wildcard src/rnnlm/main.c),$(RNNLM))

all: $(STATIC) $(SHARED) $(OUT)/lib/librnn.so rnn.pc $(CLI)

$(B)/src/%.o: src/%.c include/rnn.h $(wildcard src/*.h)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(B)/rnnlm/%.o: src/rnnlm/%.c include/rnn.h $(wildcard src/rnnlm/*.h)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Isrc/rnnlm -c $< -o $@

$(B)/rnnlm/cli_mpi.o: src/rnnlm/cli_mpi.c include/rnn.h $(wildcard src/rnnlm/*.h)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(MPI_CFLAGS) -Isrc/rnnlm -c $< -o $@

# switching MPI relinks bin/rnnlm
$(B)/rnnlm/mpi-$(MPI).stamp:
	@mkdir -p $(@D)
	rm -f $(B)/rnnlm/mpi-*.stamp
	touch $@

$(STATIC): $(LIB_OBJ)
	@mkdir -p $(@D)
	rm -f $@
	ar rcs $@ $(LIB_OBJ)

$(SHARED): $(LIB_OBJ)
	@mkdir -p $(@D)
	$(CC) -shared -Wl,-soname,librnn.so.$(MAJOR) $(SAN_FLAGS) -o $@ $(LIB_OBJ) $(LIBS)

$(OUT)/lib/librnn.so: $(SHARED)
	ln -sf librnn.so.$(MAJOR) $@

PC_SED = sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCDIR@|$(INCDIR)|' \
	    -e 's|@VERSION@|$(VERSION)|' -e 's|@BLAS_PC@|$(BLAS_PC)|' rnn.pc.in

# rnn.pc for PREFIX as given to this make; `make install` writes its own for its PREFIX
rnn.pc: rnn.pc.in include/rnn.h Makefile
	$(PC_SED) > $@

$(RNNLM): $(CLI_OBJ) $(STATIC) $(B)/rnnlm/mpi-$(MPI).stamp
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) -o $@ $(CLI_OBJ) $(STATIC) $(LIBS) $(MPI_LIBS)

# ---- tests -------------------------------------------------------------------------------------
$(B)/tests/%: tests/%.c tests/testutil.h tests/golden.h $(STATIC) $(CLI_LIB_OBJ)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Isrc/rnnlm -Wno-missing-prototypes $< -o $@ $(CLI_LIB_OBJ) $(STATIC) $(CHECK_LIBS) $(LIBS)

GOLDEN_DIR := $(B)/golden

# Golden data from PyTorch; an empty folder (the C test then skips, saying why) without python3-torch.
$(GOLDEN_DIR)/stamp: tests/torch_golden.py
	@mkdir -p $(GOLDEN_DIR)
	@if $(PYTHON) -c 'import torch' 2>/dev/null; then \
	    $(PYTHON) tests/torch_golden.py $(GOLDEN_DIR) || exit 1; \
	else echo "python3-torch not installed: PyTorch golden tests will skip (apt-get install python3-torch)"; fi
	@touch $@

# With SANITIZE=1 the test scripts also build programs against the instrumented library (the
# installed librnn.a / librnn.so): they get a `cc` (on PATH and as CC) that adds SAN_FLAGS, and
# Python (PYTHON, and python3 on PATH; for ctypes) starts with the ASan runtime preloaded (leak
# checks off for it).
ifeq ($(SANITIZE),1)
SAN_BIN    := $(B)/sanbin
SAN_PY     := $(B)/sanpy/python3
SCRIPT_ENV := PATH="$(abspath $(SAN_BIN)):$$PATH" CC="$(abspath $(SAN_BIN))/cc" PYTHON="$(abspath $(SAN_PY))"
SCRIPT_DEP := $(SAN_BIN)/cc $(SAN_PY) $(SAN_BIN)/python3
$(SAN_BIN)/cc: Makefile
	@mkdir -p $(@D)
	printf '#!/bin/sh\nexec %s %s "$$@"\n' "$$(command -v $(firstword $(CC)))" "$(wordlist 2,99,$(CC)) $(SAN_FLAGS)" >$@
	chmod +x $@
SAN_PRELOAD = printf '\043!/bin/sh\nLD_PRELOAD="%s$${LD_PRELOAD:+ $$LD_PRELOAD}" ASAN_OPTIONS="detect_leaks=0$${ASAN_OPTIONS:+:$$ASAN_OPTIONS}" exec %s "$$@"\n' \
	    "$$($(CC) -print-file-name=libasan.so)"
$(SAN_PY): Makefile
	@mkdir -p $(@D)
	$(SAN_PRELOAD) "$(PYTHON)" >$@
	chmod +x $@
$(SAN_BIN)/python3: Makefile
	@mkdir -p $(@D)
	$(SAN_PRELOAD) "$$(command -v python3 || echo /usr/bin/python3)" >$@
	chmod +x $@
endif

check: all $(TEST_BIN) $(GOLDEN_DIR)/stamp $(SCRIPT_DEP)
	@pass=0; fail=0; for t in $(TEST_BIN); do \
	    echo "== $$t"; \
	    if RNN_GOLDEN_DIR=$(GOLDEN_DIR) RNN_DATA_DIR=$(abspath ../shared/data) RNNLM=$(abspath $(RNNLM)) \
	        CK_DEFAULT_TIMEOUT=600 $$t; then pass=$$((pass + 1)); else fail=$$((fail + 1)); fi; \
	done; \
	for s in $(sort $(wildcard tests/*.sh)); do \
	    echo "== $$s"; \
	    if MAKE="$(MAKE)" RNN_LIBDIR=$(OUT)/lib RNNLM=$(abspath $(RNNLM)) \
	        RNN_CC="$(CC)" RNN_SANFLAGS="$(SAN_FLAGS)" RNN_LIBS="$(LIBS)" $(SCRIPT_ENV) sh $$s; \
	    then pass=$$((pass + 1)); else fail=$$((fail + 1)); fi; \
	done; \
	echo "== make check: every test program and script (each printed its own counts above)"; \
	echo "suites: $$pass passed, $$fail failed"; \
	test $$fail -eq 0

# Every Check suite once under valgrind memcheck (CK_FORK=no: one process, so that leaks are
# seen): zero errors and no definite or indirect leaks, or the target fails.
VALGRIND ?= valgrind
check-valgrind: all $(TEST_BIN) $(GOLDEN_DIR)/stamp
	@fail=0; for t in $(TEST_BIN); do \
	    echo "== valgrind $$t"; \
	    CK_FORK=no RNN_GOLDEN_DIR=$(GOLDEN_DIR) RNN_DATA_DIR=$(abspath ../shared/data) RNNLM=$(abspath $(RNNLM)) \
	        CK_DEFAULT_TIMEOUT=0 OPENBLAS_NUM_THREADS=1 $(VALGRIND) -q --error-exitcode=1 --leak-check=full \
	        --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect $$t || fail=1; \
	done; exit $$fail

# ---- ThreadSanitizer ------------------------------------------------------------------------------
# tests/test_threads.c and the library sources compiled together with clang -fsanitize=thread;
# any report fails the run (halt_on_error). OpenBLAS itself is not instrumented; it runs with one
# thread so that its own workers do not show up as races.
TSAN_CC ?= clang
TSAN_B  := build/tsan
$(TSAN_B)/test_threads: tests/test_threads.c tests/testutil.h $(LIB_SRC) include/rnn.h $(wildcard src/*.h)
	@mkdir -p $(@D)
	$(TSAN_CC) -std=c11 -D_POSIX_C_SOURCE=200809L -g -O1 -fsanitize=thread -ffp-contract=off -Iinclude -Isrc \
	    $(BLAS_CFLAGS) -Wno-missing-prototypes tests/test_threads.c $(LIB_SRC) -o $@ $(CHECK_LIBS) $(LIBS)

tsan: $(TSAN_B)/test_threads
	CK_FORK=no OPENBLAS_NUM_THREADS=1 TSAN_OPTIONS="halt_on_error=1 exitcode=66" $(TSAN_B)/test_threads

# ---- fuzzing (libFuzzer; clang) ------------------------------------------------------------------
#   make fuzz FUZZ_SECONDS=N   build build/fuzz/fuzz_* and run each target N seconds on its corpus
#   make fuzz-regress          replay the seeds and every saved crash input (tests/fuzz/regressions)
#   make fuzz-seeds            regenerate tests/fuzz/seeds with tests/fuzz/gen_seeds.c
# The library and corpus sources are compiled directly with clang and ASan + UBSan + coverage.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := modelfile corpus api
FUZZ_B       := build/fuzz
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CFLAGS  := -std=c11 -g -O1 -ffp-contract=off -Iinclude -Isrc -Isrc/rnnlm $(BLAS_CFLAGS) $(FUZZ_SAN)
FUZZ_OBJ     := $(LIB_SRC:src/%.c=$(FUZZ_B)/obj/%.o) $(FUZZ_B)/obj/corpus.o
FUZZ_BIN     := $(FUZZ_TARGETS:%=$(FUZZ_B)/fuzz_%)
FUZZ_OPTS_modelfile := -max_len=16384
FUZZ_OPTS_corpus    := -max_len=2048
FUZZ_OPTS_api       := -max_len=2048
FUZZ_ENV     := OPENBLAS_NUM_THREADS=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
                ASAN_OPTIONS=detect_leaks=1:abort_on_error=0

$(FUZZ_B)/obj/%.o: src/%.c include/rnn.h $(wildcard src/*.h)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -D_POSIX_C_SOURCE=200809L -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_B)/obj/corpus.o: src/rnnlm/corpus.c src/rnnlm/corpus.h include/rnn.h
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -D_POSIX_C_SOURCE=200809L -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_B)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_common.h $(FUZZ_OBJ)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -D_GNU_SOURCE -fsanitize=fuzzer $< $(FUZZ_OBJ) $(BLAS_LIBS) -lm -pthread -o $@

fuzz-build: $(FUZZ_BIN)
.SECONDARY: $(FUZZ_OBJ)

# Each target runs FUZZ_SECONDS on build/fuzz/corpus/<t> (new inputs go there) plus the seeds;
# a crash leaves build/fuzz/crash-<t>-* and fails the run (minimise it, then keep it under
# tests/fuzz/regressions/<t>/).
fuzz: $(FUZZ_BIN) fuzz-regress
	@fail=0; for t in $(FUZZ_TARGETS); do \
	    mkdir -p $(FUZZ_B)/corpus/$$t; echo "== fuzz_$$t for $(FUZZ_SECONDS) s"; \
	    $(FUZZ_ENV) $(FUZZ_B)/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -timeout=20 -print_final_stats=1 \
	        $$(case $$t in modelfile) echo '$(FUZZ_OPTS_modelfile)';; corpus) echo '$(FUZZ_OPTS_corpus)';; \
	                       api) echo '$(FUZZ_OPTS_api)';; esac) \
	        -artifact_prefix=$(FUZZ_B)/crash-$$t- $(FUZZ_B)/corpus/$$t tests/fuzz/seeds/$$t \
	        > $(FUZZ_B)/fuzz_$$t.log 2>&1 || { fail=1; tail -n 60 $(FUZZ_B)/fuzz_$$t.log; }; \
	    grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|Done)' $(FUZZ_B)/fuzz_$$t.log || true; \
	done; exit $$fail

# Runs every seed and every saved crash input once through its target (a regression test).
fuzz-regress: $(FUZZ_BIN)
	@fail=0; for t in $(FUZZ_TARGETS); do \
	    files=$$(ls tests/fuzz/seeds/$$t/* tests/fuzz/regressions/$$t/* 2>/dev/null); \
	    [ -n "$$files" ] || continue; \
	    echo "== fuzz_$$t: replaying $$(echo $$files | wc -w) inputs"; \
	    $(FUZZ_ENV) $(FUZZ_B)/fuzz_$$t -runs=1 $$files > $(FUZZ_B)/regress_$$t.log 2>&1 \
	        || { fail=1; tail -n 60 $(FUZZ_B)/regress_$$t.log; }; \
	done; exit $$fail

fuzz-seeds: $(STATIC)
	@mkdir -p $(FUZZ_B)
	$(CC) -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Iinclude tests/fuzz/gen_seeds.c $(STATIC) $(LIBS) \
	    -o $(FUZZ_B)/gen_seeds
	rm -rf tests/fuzz/seeds && $(FUZZ_B)/gen_seeds tests/fuzz/seeds

# ---- examples (programs using only the public API; tests/examples.sh builds them against an
# installed copy with nothing but pkg-config's flags) ---------------------------------------------
# (examples/train_mpi.c only when mpicc is found, MPI=1)
EXAMPLES := $(patsubst examples/%.c,$(B)/examples/%,$(filter-out examples/train_mpi.c,$(wildcard examples/*.c)))
ifeq ($(MPI),1)
EXAMPLES += $(B)/examples/train_mpi
endif
examples: $(EXAMPLES)
$(B)/examples/train_mpi: examples/train_mpi.c include/rnn.h $(SHARED) $(OUT)/lib/librnn.so
	@mkdir -p $(@D)
	$(CC) -std=c11 $(WARN) -Iinclude $(MPI_CFLAGS) $(SAN_FLAGS) $(CFLAGS) $< -o $@ \
	    -L$(OUT)/lib -Wl,-rpath,$(abspath $(OUT)/lib) -lrnn -lm -pthread $(MPI_LIBS)
$(B)/examples/%: examples/%.c include/rnn.h $(SHARED) $(OUT)/lib/librnn.so
	@mkdir -p $(@D)
	$(CC) -std=c11 $(WARN) -Iinclude $(SAN_FLAGS) $(CFLAGS) $< -o $@ \
	    -L$(OUT)/lib -Wl,-rpath,$(abspath $(OUT)/lib) -lrnn -lm -pthread
.PHONY: examples

# ---- benchmark against PyTorch (bench/README.md): ours and PyTorch side by side, interleaved -----
bench: $(STATIC)
	MAKE="$(MAKE)" PYTHON="$(PYTHON)" sh bench/run.sh
.PHONY: bench
# training cost against the vocabulary (Zipf corpora, full and adaptive softmax; bench/zipf.py)
bench-vocab: $(STATIC)
	MAKE="$(MAKE)" PYTHON="$(PYTHON)" sh bench/run.sh vocab
.PHONY: bench-vocab

# ---- data-parallel benchmark (bench/README.md, "MPI"): the all-reduce alone, rnnlm train's
# tokens/s over 2 ranks against 1 process, and the training step with and without the exchange
# (bench/dpstep.c); needs mpicc / mpirun (BENCH_QUICK=1: a short run)
bench-mpi: all
	@test "$(MPI)" = 1 || { echo "bench-mpi: needs Open MPI's mpicc (apt-get install libopenmpi-dev openmpi-bin)"; exit 1; }
	mkdir -p build/bench
	$(MPICC) -O2 -std=c11 $(WARN) bench/allreduce.c -o build/bench/allreduce
	$(MPICC) -O2 -std=c11 $(WARN) -Iinclude bench/dpstep.c $(STATIC) $(LIBS) -o build/bench/dpstep
	sh bench/mpi.sh
.PHONY: bench-mpi

# ---- install -----------------------------------------------------------------------------------
install: all
	mkdir -p $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCDIR) $(DESTDIR)$(BINDIR)
	cp include/rnn.h $(DESTDIR)$(INCDIR)/
	cp $(STATIC) $(SHARED) $(DESTDIR)$(LIBDIR)/
	ln -sf librnn.so.$(MAJOR) $(DESTDIR)$(LIBDIR)/librnn.so
	$(PC_SED) > $(DESTDIR)$(LIBDIR)/pkgconfig/rnn.pc
	$(if $(CLI),cp $(RNNLM) $(DESTDIR)$(BINDIR)/)

uninstall:
	rm -f $(DESTDIR)$(INCDIR)/rnn.h $(DESTDIR)$(LIBDIR)/librnn.a $(DESTDIR)$(LIBDIR)/librnn.so \
	      $(DESTDIR)$(LIBDIR)/librnn.so.$(MAJOR) $(DESTDIR)$(LIBDIR)/pkgconfig/rnn.pc $(DESTDIR)$(BINDIR)/rnnlm

clean:
	rm -rf build lib bin rnn.pc

.PHONY: all check check-valgrind tsan install uninstall clean fuzz fuzz-build fuzz-regress fuzz-seeds
