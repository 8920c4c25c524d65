# bpf/: the CO-RE BPF programs of the probe tiers, and (through
# tools/xstate-watch/probes/build.mk) the user-space loaders that turn them
# into the probe library the collector links.
#
#   $(OUT)/bpf/vmlinux.h             bpftool btf dump of $(VMLINUX_BTF) (never committed)
#   $(OUT)/bpf/<name>.bpf.o          clang -target bpf, debug info stripped
#   $(OUT)/bpf/<name>.skel.h         bpftool gen skeleton
#
# VMLINUX_BTF=path builds against another kernel's BTF (a vmlinux ELF or a
# raw BTF file); the programs are CO-RE, so the result runs on any kernel
# whose BTF has the types they read.

VMLINUX_BTF ?= /sys/kernel/btf/vmlinux
BPF_ARCH ?= x86

XSW_BPF_SRCS := $(sort $(wildcard $(TOP)/bpf/*.bpf.c))
XSW_BPF_OBJS := $(patsubst $(TOP)/bpf/%.bpf.c,$(OUT)/bpf/%.bpf.o,$(XSW_BPF_SRCS))
XSW_BPF_SKELS := $(patsubst $(TOP)/bpf/%.bpf.c,$(OUT)/bpf/%.skel.h,$(XSW_BPF_SRCS))
XSW_BPF_HDRS := $(wildcard $(TOP)/bpf/*.h) $(TOP)/tools/lib/xsw_event.h

# -mcpu=v3: atomic fetch-and-add with its result (vCPU/VM counters), and
# 32-bit jumps; every kernel with BTF-enabled tp_btf (5.5+) has v3 (5.1+).
XSW_BPF_CFLAGS := -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_$(BPF_ARCH) \
	-Wall -Wno-unused-function $(if $(filter 1,$(WERROR)),-Werror) \
	-I$(OUT)/bpf -I$(TOP)/bpf -I$(TOP)/tools/lib

# Regenerate vmlinux.h when the BTF source changes (a different VMLINUX_BTF
# path, or a new kernel booted): the stamp holds the path and its size.
$(OUT)/bpf/vmlinux.h: $(OUT)/bpf/.btf-stamp
	$(call msg,GEN,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(BPFTOOL) btf dump file $(VMLINUX_BTF) format c >$@.tmp && mv $@.tmp $@

.PHONY: FORCE
$(OUT)/bpf/.btf-stamp: FORCE
	$(Q)mkdir -p $(@D)
	$(Q)test -r $(VMLINUX_BTF) || { echo "bpf: VMLINUX_BTF=$(VMLINUX_BTF) is not readable (a kernel without CONFIG_DEBUG_INFO_BTF? pass VMLINUX_BTF=/path/to/vmlinux)" >&2; exit 1; }
	$(Q)id="$(VMLINUX_BTF) $$(stat -L -c %s $(VMLINUX_BTF))"; \
		[ "$$(cat $@ 2>/dev/null)" = "$$id" ] || echo "$$id" >$@

# The recipes, shared with the BPF objects of the tests (tests/unit/build.mk).
define XSW_BPF_COMPILE
	$(call msg,BPF,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(XSW_BPF_CFLAGS) -c $< -o $@.tmp
	$(Q)$(LLVM_STRIP) -g $@.tmp && mv $@.tmp $@
endef

define XSW_BPF_SKELETON
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $(subst .bpf.o,,$(notdir $<)) >$@.tmp && mv $@.tmp $@
endef

$(OUT)/bpf/%.bpf.o: $(TOP)/bpf/%.bpf.c $(OUT)/bpf/vmlinux.h $(XSW_BPF_HDRS)
	$(XSW_BPF_COMPILE)

$(OUT)/bpf/%.skel.h: $(OUT)/bpf/%.bpf.o
	$(XSW_BPF_SKELETON)

.PHONY: bpf
bpf: $(XSW_BPF_SKELS)

# The user-space side of the tiers lives with the collector; its fragment is
# one directory too deep for the top Makefile's wildcard, so pull it in here.
include $(TOP)/tools/xstate-watch/probes/build.mk
