# tests/unit: BPF objects a unit test loads into the running kernel
# (tests/unit/bpf/*.bpf.c, built with bpf/build.mk's recipes), and what the
# tests that load them link beyond UNIT_LIBS.
$(OUT)/tests/unit/bpf/%.bpf.o: $(TOP)/tests/unit/bpf/%.bpf.c $(OUT)/bpf/vmlinux.h
	$(XSW_BPF_COMPILE)

$(OUT)/tests/unit/bpf/%.skel.h: $(OUT)/tests/unit/bpf/%.bpf.o
	$(XSW_BPF_SKELETON)

# test_prog_skips: xsw_bpf_object_skips() (the probe tiers' library) against
# a program the kernel skips for real.
$(OUT)/tests/unit/test_prog_skips.o: $(OUT)/tests/unit/bpf/skips_recurse.skel.h
$(OUT)/tests/unit/test_prog_skips.o: XSW_CFLAGS += -I$(TOP)/tools/xstate-watch/probes \
	-I$(OUT)/tests/unit/bpf
$(OUT)/tests/unit/test_prog_skips: $(XSW_PROBES_LIB)
$(OUT)/tests/unit/test_prog_skips: UNIT_LIBS += $(XSW_PROBES_LIB)
$(OUT)/tests/unit/test_prog_skips: UNIT_LDLIBS += $(LIBBPF_LIBS)
