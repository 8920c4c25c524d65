# tools/bench: benchmarks and profiles (not part of `make test` or CI: the
# figures are timings on a noisy 2-core machine, never assertions).
#
#   make bench        paired rounds for the overhead targets (untraced twice,
#                     xstate-watch filtered out and attached); interleaved
#                     rounds: untraced / xstate-watch / bpftrace /
#                     perf, exit-loop with and without the kvm_entry guard,
#                     attach time, collector RSS+CPU, what untraced
#                     syscalls pay (hot loop), event-rate burst, the three
#                     probe tiers compared in the QEMU test guest (boots
#                     tests/kernel/vm/plan.bench: needs qemu-system-x86);
#                     writes build/bench/report.md (+ raw JSON)
#   make bench-doc    copies build/bench/report.md to docs/BENCHMARKS.md
#   make profile      perf record -g of vCPU creation and KVM_SET_CPUID2,
#                     text reports and flame graphs in build/profile/
#
#   BENCH_ARGS="--rounds 9 --paired-rounds 30"   passed to tools/bench/bench.py
XSW_BURST := $(OUT)/tools/bench/xsw-burst
BENCH_PY ?= /usr/bin/python3

$(XSW_BURST): $(OUT)/tools/bench/xsw-burst.o
	$(call msg,LINK,$@)
	$(Q)$(CC) $(XSW_LDFLAGS) -o $@ $^

ALL_TARGETS += $(XSW_BURST)

# xsw-floor: empty programs on one set of the syscall tier's hooks.
XSW_FLOOR := $(OUT)/tools/bench/xsw-floor

$(OUT)/tools/bench/xsw-floor.o: $(OUT)/bpf/xsw_floor.skel.h

$(XSW_FLOOR): $(OUT)/tools/bench/xsw-floor.o
	$(call msg,LINK,$@)
	$(Q)$(CC) $(XSW_LDFLAGS) -o $@ $^ $(LIBBPF_LIBS)

ALL_TARGETS += $(XSW_FLOOR)

.PHONY: bench bench-doc profile
bench: build-all
	$(Q)$(BENCH_PY) $(TOP)/tools/bench/bench.py --build $(OUT) \
		--out $(OUT)/bench $(BENCH_ARGS)

bench-doc:
	$(Q)test -s $(OUT)/bench/report.md || \
		{ echo "bench-doc: $(OUT)/bench/report.md missing: run 'make bench' first" >&2; exit 1; }
	$(call msg,CP,$(TOP)/docs/BENCHMARKS.md)
	$(Q)cp $(OUT)/bench/report.md $(TOP)/docs/BENCHMARKS.md

profile: build-all
	$(Q)$(TOP)/tools/bench/profile.sh $(OUT) $(OUT)/profile
