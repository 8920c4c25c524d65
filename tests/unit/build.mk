# tests/unit: BPF objects a unit test loads into the running kernel
# (tests/unit/bpf/*.bpf.c, built and skeletoned as bpf/ builds its own),
# and what the tests that load them link beyond UNIT_LIBS.
TEST_BPF_SRCS := $(sort $(wildcard $(TOP)/tests/unit/bpf/*.bpf.c))
TEST_BPF_SKELS := $(patsubst $(TOP)/tests/unit/bpf/%.bpf.c,$(OUT)/tests/unit/bpf/%.skel.h,$(TEST_BPF_SRCS))

$(OUT)/tests/unit/bpf/%.bpf.o: $(TOP)/tests/unit/bpf/%.bpf.c $(OUT)/bpf/vmlinux.h
	$(call msg,BPF,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(XSW_BPF_CFLAGS) -c $< -o $@.tmp
	$(Q)$(LLVM_STRIP) -g $@.tmp && mv $@.tmp $@

$(OUT)/tests/unit/bpf/%.skel.h: $(OUT)/tests/unit/bpf/%.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $(subst .bpf.o,,$(notdir $<)) >$@.tmp && mv $@.tmp $@

# test_prog_skips: xsw_bpf_object_skips() (the probe tiers' library) against
# a program the kernel skips for real.
$(OUT)/tests/unit/test_prog_skips.o: $(OUT)/tests/unit/bpf/skips_recurse.skel.h
$(OUT)/tests/unit/test_prog_skips.o: XSW_CFLAGS += -I$(TOP)/tools/xstate-watch/probes \
	-I$(OUT)/tests/unit/bpf
$(OUT)/tests/unit/test_prog_skips: $(XSW_PROBES_LIB)
$(OUT)/tests/unit/test_prog_skips: UNIT_LIBS += $(XSW_PROBES_LIB)
$(OUT)/tests/unit/test_prog_skips: UNIT_LDLIBS += $(LIBBPF_LIBS)
