# tools/xstate-watch/probes: the probe tiers' user-space side (tier
# registry and choice, environment checks, one loader per tier), built into
# one static library the collector links:
#
#   $(XSW_PROBES_LIB)      $(OUT)/libxswprobes.a
#   $(XSW_PROBES_LDLIBS)   what a program linking it needs after it (libbpf)
#
# e.g.  $(CC) ... main.o ... $(XSW_PROBES_LIB) $(OUT)/libxsw.a $(XSW_PROBES_LDLIBS)
#
# A new tier is a new probes/<tier>.c (and bpf/xsw_<tier>.bpf.c): the
# wildcard below picks it up. Included from bpf/build.mk.

XSW_PROBES_SRCS := $(filter-out %/probe-dump.c,$(sort $(wildcard $(TOP)/tools/xstate-watch/probes/*.c)))
XSW_PROBES_OBJS := $(patsubst $(TOP)/%.c,$(OUT)/%.o,$(XSW_PROBES_SRCS))
XSW_PROBES_LIB := $(OUT)/libxswprobes.a
XSW_PROBES_LDLIBS := $(LIBBPF_LIBS)

# A loader waits for the skeletons it includes (probes/<tier>.c including
# "bpf/xsw_<tier>.skel.h"), and only for those: a tier whose BPF side is
# still being written does not hold up the others.
$(foreach c,$(XSW_PROBES_SRCS),$(eval \
$(patsubst $(TOP)/%.c,$(OUT)/%.o,$(c)): $(patsubst %,$(OUT)/bpf/%, \
	$(shell sed -n 's|^\#include "bpf/\(xsw_[a-z_]*\.skel\.h\)"|\1|p' $(c)))))

$(XSW_PROBES_LIB): $(XSW_PROBES_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

# xsw-probe-dump: opens a tier and prints every event as a JSON line (a
# debugging aid and the integration tests' window onto the BPF side).
XSW_PROBE_DUMP := $(OUT)/tools/xstate-watch/xsw-probe-dump

$(XSW_PROBE_DUMP): $(OUT)/tools/xstate-watch/probes/probe-dump.o $(XSW_PROBES_LIB) $(OUT)/libxsw.a
	$(call msg,LINK,$@)
	$(Q)$(CC) $(XSW_LDFLAGS) -o $@ $^ $(XSW_PROBES_LDLIBS) $(JANSSON_LIBS)

ALL_TARGETS += $(XSW_PROBES_LIB) $(XSW_PROBE_DUMP)
