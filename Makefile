# kiln - one non-recursive GNU Makefile.
#   make            build ./kiln
#   make demo       install what is missing, build, bake recipes/examples/
#   make test       install what is missing, build, run the whole suite
#   make check      the same suite built with AddressSanitizer + UBSan
#   make bench      kiln against peer tools, printed as ratios
#   make fuzz       build the libFuzzer targets (clang) and run each briefly
#   make install    PREFIX=/usr/local DESTDIR=

CC       ?= cc
PREFIX   ?= /usr/local
DESTDIR  ?=
BUILD    ?= build
CFLAGS   ?= -O2 -g
SANITIZE ?=

PKGS := libguestfs yaml-0.1 libarchive libcrypto jansson libcurl libzstd zlib libvirt libxml-2.0
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-format-nonliteral \
        -Wmissing-prototypes -Wstrict-prototypes -Wvla -Wpointer-arith \
        -Wundef -Wno-missing-field-initializers -Wno-format-truncation
KCFLAGS := -std=c11 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -I. $(WARN) $(PKG_CFLAGS) $(CFLAGS)
KLDFLAGS := $(LDFLAGS)
ifneq ($(SANITIZE),)
KCFLAGS  += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
KLDFLAGS += -fsanitize=$(SANITIZE)
endif
LIBS := $(PKG_LIBS) -lpthread

LIB_SRCS := $(sort $(wildcard common/*.c recipes/*.c tree/*.c sbom/*.c disk/*.c boot/*.c builder/*.c images/*.c signing/*.c registry/*.c fleet/*.c))
CLI_SRCS := $(sort $(wildcard cli/*.c))
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o)
CLI_OBJS := $(CLI_SRCS:%.c=$(BUILD)/%.o)
LIBKILN  := $(BUILD)/libkiln.a

UNIT_SRCS  := $(sort $(wildcard tests/unit/test-*.c))
UNIT_BINS  := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/unit/%)
FUZZ_SRCS  := $(sort $(wildcard tests/fuzz/fuzz-*.c))
FUZZ_REPLAY := $(FUZZ_SRCS:tests/fuzz/%.c=$(BUILD)/tests/fuzz/%-replay)
INTEG_TESTS := $(sort $(wildcard tests/integration/t[0-9]*.sh))

# The binary the tests run: ./kiln normally, the sanitizer build for `make check`.
KILN_BIN ?= $(CURDIR)/kiln

.PHONY: all deps demo test check test-run bench fuzz install clean unit integration
.DELETE_ON_ERROR:

all: kiln

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(KCFLAGS) -MMD -MP -c -o $@ $<

$(LIBKILN): $(LIB_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

$(BUILD)/kiln: $(CLI_OBJS) $(LIBKILN)
	$(CC) $(KCFLAGS) $(KLDFLAGS) -o $@ $(CLI_OBJS) $(LIBKILN) $(LIBS)

kiln: $(BUILD)/kiln
	cp $< $@

$(BUILD)/tests/unit/%: tests/unit/%.c tests/unit/tap.h $(LIBKILN)
	@mkdir -p $(dir $@)
	$(CC) $(KCFLAGS) $(KLDFLAGS) -o $@ $< $(LIBKILN) $(LIBS)

$(BUILD)/tests/fuzz/%-replay: tests/fuzz/%.c tests/fuzz/replay.c $(LIBKILN)
	@mkdir -p $(dir $@)
	$(CC) $(KCFLAGS) $(KLDFLAGS) -o $@ $< tests/fuzz/replay.c $(LIBKILN) $(LIBS)

deps:
	@ci/install-deps

unit: $(UNIT_BINS) $(FUZZ_REPLAY)

# Runs the unit tests, the fuzz corpus replay and the end-to-end tests through prove (TAP).
test-run: $(BUILD)/kiln unit
	KILN_BIN=$(KILN_BIN) KILN_BUILD=$(CURDIR)/$(BUILD) KILN_SRC=$(CURDIR) \
	  prove --exec tests/run-test $(PROVE_FLAGS) $(UNIT_BINS) $(FUZZ_REPLAY) $(INTEG_TESTS)

test: deps
	$(MAKE) kiln
	$(MAKE) test-run

check: deps
	$(MAKE) BUILD=build/san SANITIZE=address,undefined CFLAGS="-O1 -g" \
	  KILN_BIN=$(CURDIR)/build/san/kiln test-run

demo: deps
	$(MAKE) kiln
	tests/demo.sh

bench: deps
	$(MAKE) kiln
	bench/run.sh

FUZZ_CC ?= clang
fuzz: deps $(LIB_SRCS)
	@mkdir -p $(BUILD)/fuzz
	for f in $(FUZZ_SRCS); do \
	  n=$$(basename $$f .c); \
	  $(FUZZ_CC) -std=c11 -D_GNU_SOURCE -I. -g -O1 -fsanitize=fuzzer,address,undefined \
	    $(PKG_CFLAGS) -o $(BUILD)/fuzz/$$n $$f $(LIB_SRCS) $(LIBS) || exit 1; \
	  mkdir -p $(BUILD)/fuzz/$$n-corpus; \
	  $(BUILD)/fuzz/$$n -max_total_time=$${FUZZ_SECONDS:-30} -max_len=65536 \
	    $(BUILD)/fuzz/$$n-corpus tests/fuzz/corpus/$${n#fuzz-} || exit 1; \
	done

install: kiln
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 0755 kiln $(DESTDIR)$(PREFIX)/bin/kiln
	install -m 0644 kiln.1 $(DESTDIR)$(PREFIX)/share/man/man1/kiln.1

clean:
	rm -rf build kiln

-include $(shell find build -name '*.d' 2>/dev/null)
