# tools/xstate-watch: the collector.
#
#   $(LIBXSWENGINE)   $(OUT)/libxswengine.a: lifecycle engine, checks and the
#                     table/json/ktap/summary sinks (no BPF, no HTTP); in
#                     UNIT_LIBS so unit tests link it
#   $(XSTATE_WATCH)   $(OUT)/tools/xstate-watch/xstate-watch
#   make demo         scripts/demo.sh after `deps` and `all`
#
# Pieces other fragments build are linked when they exist: the probe tiers
# ($(XSW_PROBES_LIB), from tools/xstate-watch/probes/build.mk via
# bpf/build.mk), the /metrics sink (sinks/metrics.c; libmicrohttpd is loaded
# at run time) and the pKVM model ($(OUT)/libxswmodel.a,
# tools/xstate-watch/model/build.mk).
# Without one, the matching mode says so at run time.
XSW_DIR := $(TOP)/tools/xstate-watch

LIBXSWENGINE_SRCS := $(addprefix $(XSW_DIR)/,engine.c checks.c sinks/table.c \
	sinks/json.c sinks/ktap.c sinks/summary.c)
LIBXSWENGINE_OBJS := $(patsubst $(TOP)/%.c,$(OUT)/%.o,$(LIBXSWENGINE_SRCS))
LIBXSWENGINE := $(OUT)/libxswengine.a

$(LIBXSWENGINE): $(LIBXSWENGINE_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

XSTATE_WATCH_SRCS := $(addprefix $(XSW_DIR)/,main.c cli.c live.c run.c replay.c)
XSTATE_WATCH_OBJS := $(patsubst $(TOP)/%.c,$(OUT)/%.o,$(XSTATE_WATCH_SRCS))
XSTATE_WATCH := $(OUT)/tools/xstate-watch/xstate-watch
XSTATE_WATCH_LIBS :=
XSTATE_WATCH_LDLIBS := $(JANSSON_LIBS) -lm
XSTATE_WATCH_DEFS :=

# Probe tiers: only once the probes fragment has loaders to archive.
ifneq ($(strip $(XSW_PROBES_OBJS)),)
XSTATE_WATCH_LIBS += $(XSW_PROBES_LIB)
XSTATE_WATCH_LDLIBS += $(XSW_PROBES_LDLIBS)
XSTATE_WATCH_DEFS += -DXSW_HAVE_PROBES=1
endif
# /metrics sink. It dlopen()s libmicrohttpd when a server starts rather than
# linking it (see sinks/metrics.c), by the soname -lmicrohttpd would record.
ifneq ($(wildcard $(XSW_DIR)/sinks/metrics.c),)
XSW_METRICS_OBJ := $(OUT)/tools/xstate-watch/sinks/metrics.o
MHD_SONAME := $(or $(shell objdump -p \
	"$$($(PKG_CONFIG) --variable=libdir libmicrohttpd 2>/dev/null)/libmicrohttpd.so" \
	2>/dev/null | sed -n 's/^ *SONAME *//p'),libmicrohttpd.so.12)
XSW_METRICS_DEFS := -DXSW_MHD_SONAME=\"$(MHD_SONAME)\"
XSTATE_WATCH_LIBS += $(XSW_METRICS_OBJ)
XSTATE_WATCH_LDLIBS += -lpthread
XSTATE_WATCH_DEFS += -DXSW_HAVE_METRICS=1
$(XSW_METRICS_OBJ): XSW_CFLAGS += $(XSW_METRICS_DEFS)
endif
# pKVM model (`xstate-watch model ...`); its fragment is included after this one.
ifneq ($(wildcard $(XSW_DIR)/model/model.h),)
XSTATE_WATCH_LIBS += $(OUT)/libxswmodel.a
XSTATE_WATCH_DEFS += -DXSW_HAVE_MODEL=1
endif

$(LIBXSWENGINE_OBJS) $(XSTATE_WATCH_OBJS): XSW_CFLAGS += -I$(XSW_DIR)
$(XSTATE_WATCH_OBJS): XSW_CFLAGS += $(XSTATE_WATCH_DEFS)

# Recompile the mode files when a piece appears or goes (the defines change),
# and the /metrics sink when the soname does: the stamp is rewritten only
# when its content differs.
XSTATE_WATCH_DEFS_STAMP := $(OUT)/tools/xstate-watch/.defs
.PHONY: FORCE
$(XSTATE_WATCH_DEFS_STAMP): FORCE
	$(Q)mkdir -p $(@D)
	$(Q)[ "$$(cat $@ 2>/dev/null)" = "$(strip $(XSTATE_WATCH_DEFS) $(XSW_METRICS_DEFS))" ] || \
		echo "$(strip $(XSTATE_WATCH_DEFS) $(XSW_METRICS_DEFS))" >$@
$(XSTATE_WATCH_OBJS) $(XSW_METRICS_OBJ): $(XSTATE_WATCH_DEFS_STAMP)
$(OUT)/tests/unit/test_engine.o $(OUT)/tests/unit/test_checks.o: XSW_CFLAGS += -I$(XSW_DIR)

$(XSTATE_WATCH): $(XSTATE_WATCH_OBJS) $(LIBXSWENGINE) $(XSTATE_WATCH_LIBS) $(LIBXSW)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(XSW_LDFLAGS) -o $@ $(XSTATE_WATCH_OBJS) -Wl,--start-group \
		$(LIBXSWENGINE) $(XSTATE_WATCH_LIBS) $(LIBXSW) -Wl,--end-group \
		$(XSTATE_WATCH_LDLIBS)

.PHONY: xstate-watch
xstate-watch: $(XSTATE_WATCH)

ALL_TARGETS += $(LIBXSWENGINE) $(XSTATE_WATCH)
UNIT_LIBS += $(LIBXSWENGINE)

# `make demo`: the README's first command. deps and all first, in order.
.PHONY: demo
demo:
	$(Q)$(MAKE) --no-print-directory deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)XSW_BUILD=$(OUT) XSW_TOP=$(TOP) $(TOP)/scripts/demo.sh
