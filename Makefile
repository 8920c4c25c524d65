# SPDX-License-Identifier: GPL-2.0
#
# xstate-watch top-level Makefile.
#
# Each component keeps its rules in its own build.mk (tools/lib/build.mk,
# bpf/build.mk, ...); this file holds what they share: toolchain, flags,
# the quiet-output helpers, and the top-level targets.
#
#   make            build everything user space + BPF
#   make test       build and run every test suite (SUITES="unit integration"
#                   to pick suites; SAN=1 for an ASan+UBSan build)
#   make demo       install missing packages, build, trace a real VM lifecycle
#   make deps       install the Debian packages the project needs (missing only)
#   make clean
#   V=1             show the commands

SHELL := /bin/bash
TOP := $(CURDIR)

ifeq ($(V),1)
Q :=
msg :=
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(patsubst $(TOP)/%,%,$(2))";
endif

# SAN=1 builds into its own tree so sanitized and plain objects never mix.
ifeq ($(SAN),1)
BUILD ?= build/san
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
BUILD ?= build
SAN_FLAGS :=
endif
OUT := $(TOP)/$(BUILD)

CC ?= gcc
CLANG ?= clang
BPFTOOL ?= bpftool
LLVM_STRIP ?= llvm-strip
PKG_CONFIG ?= pkg-config

# Warnings are errors in CI (CI=true is set by the CI runner), and on demand.
WERROR ?= $(if $(filter true 1,$(CI)),1,0)
CFLAGS ?= -O2 -g
XSW_CFLAGS := -std=gnu11 -Wall -Wextra -Wno-unused-parameter -Wshadow \
	-Wformat=2 -Wstrict-prototypes -Wmissing-prototypes \
	-D_GNU_SOURCE $(if $(filter 1,$(WERROR)),-Werror) \
	-I$(TOP)/tools/lib -I$(OUT) $(SAN_FLAGS)
XSW_LDFLAGS := $(SAN_FLAGS)

JANSSON_LIBS := $(shell $(PKG_CONFIG) --libs jansson 2>/dev/null || echo -ljansson)
LIBBPF_LIBS := $(shell $(PKG_CONFIG) --libs libbpf 2>/dev/null || echo -lbpf -lelf -lz)
CMOCKA_LIBS := $(shell $(PKG_CONFIG) --libs cmocka 2>/dev/null || echo -lcmocka)

# Components append to these.
ALL_TARGETS :=
UNIT_TESTS :=
# Built for the test scripts only (make test), never by make all.
TEST_HELPERS :=
# Static libraries every unit test may link against (order-free: grouped).
UNIT_LIBS :=
UNIT_LDLIBS := $(JANSSON_LIBS) -lpthread -lm

.PHONY: all
all: build-all

# Compile rule shared by every user-space component.
$(OUT)/%.o: $(TOP)/%.c | $(OUT)/.dirs
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(XSW_CFLAGS) -MMD -MP -c $< -o $@

$(OUT)/.dirs:
	$(Q)mkdir -p $(OUT) && touch $@

include $(sort $(wildcard $(TOP)/*/build.mk $(TOP)/*/*/build.mk))
# Fragments one level deeper, each included once, after their parent's.
include $(wildcard $(TOP)/tools/xstate-watch/model/build.mk)

# Unit tests: tests/unit/test_*.c, each a cmocka program linked against the
# project's static libraries.
UNIT_SRCS := $(sort $(wildcard $(TOP)/tests/unit/test_*.c))
UNIT_TESTS += $(patsubst $(TOP)/tests/unit/%.c,$(OUT)/tests/unit/%,$(UNIT_SRCS))

# Keep objects make would otherwise delete as intermediates.
.SECONDARY:

$(OUT)/tests/unit/%: $(OUT)/tests/unit/%.o $(UNIT_LIBS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(XSW_LDFLAGS) -o $@ $< -Wl,--start-group $(UNIT_LIBS) -Wl,--end-group \
		$(CMOCKA_LIBS) $(UNIT_LDLIBS)

.PHONY: build-all unit-tests test-helpers
build-all: $(ALL_TARGETS)
unit-tests: $(UNIT_TESTS)
test-helpers: $(TEST_HELPERS)

# --- tests -----------------------------------------------------------------
# One runner for every suite; it ends with "N passed, N failed, N skipped".
SUITES ?= unit integration kernel dashboards bench
.PHONY: test
test: build-all unit-tests test-helpers
	$(Q)XSW_BUILD=$(OUT) XSW_TOP=$(TOP) SAN=$(SAN) $(TOP)/tests/run-tests $(SUITES)

# --- packages --------------------------------------------------------------
.PHONY: deps
deps:
	$(Q)$(TOP)/scripts/deps.sh

.PHONY: clean
clean:
	$(call msg,CLEAN,build)
	$(Q)rm -rf $(TOP)/build

# Header dependencies of the project's own objects (not of trees such as the
# kernel that other targets unpack under build/).
-include $(shell find $(OUT)/tools $(OUT)/tests -name '*.d' -type f 2>/dev/null)
