# librnn -- plain Makefile.
#   make                 lib/librnn.a, lib/librnn.so.MAJOR (+ lib/librnn.so), rnn.pc, bin/rnnlm
#   make check           the Check test suites (+ PyTorch golden data when python3-torch is present)
#   make install PREFIX=/usr/local
#   make BLAS=ref        link the reference CBLAS (Debian libblas-dev) instead of OpenBLAS
#   make CC=clang        any C11 compiler
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

LIBS    = $(BLAS_LIBS) -lm
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null || echo -lcheck -lsubunit -lrt -lm -lpthread)

B := build/$(BLAS)$(if $(SANITIZE),-san)

LIB_SRC  := $(sort $(wildcard src/*.c))
LIB_OBJ  := $(LIB_SRC:src/%.c=$(B)/src/%.o)
CLI_SRC  := $(sort $(wildcard src/rnnlm/*.c))
CLI_OBJ  := $(CLI_SRC:src/rnnlm/%.c=$(B)/rnnlm/%.o)
CLI_LIB_OBJ := $(filter-out $(B)/rnnlm/main.o,$(CLI_OBJ))
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

$(RNNLM): $(CLI_OBJ) $(STATIC)
	@mkdir -p $(@D)
	$(CC) $(SAN_FLAGS) -o $@ $(CLI_OBJ) $(STATIC) $(LIBS)

# ---- tests -------------------------------------------------------------------------------------
$(B)/tests/%: tests/%.c tests/testutil.h $(STATIC) $(CLI_LIB_OBJ)
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

check: all $(TEST_BIN) $(GOLDEN_DIR)/stamp
	@fail=0; for t in $(TEST_BIN); do \
	    echo "== $$t"; \
	    RNN_GOLDEN_DIR=$(GOLDEN_DIR) RNN_DATA_DIR=$(abspath ../shared/data) RNNLM=$(abspath $(RNNLM)) \
	        CK_DEFAULT_TIMEOUT=600 $$t || fail=1; \
	done; \
	for s in $(sort $(wildcard tests/*.sh)); do \
	    echo "== $$s"; MAKE="$(MAKE)" RNN_LIBDIR=$(OUT)/lib RNNLM=$(abspath $(RNNLM)) sh $$s || fail=1; \
	done; \
	exit $$fail

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

.PHONY: all check install uninstall clean
