# tools/lib: the shared library (size model, CPU models, event schema,
# errors), linked statically into every tool and unit test.
LIBXSW_SRCS := $(sort $(wildcard $(TOP)/tools/lib/*.c))
LIBXSW_OBJS := $(patsubst $(TOP)/%.c,$(OUT)/%.o,$(LIBXSW_SRCS))
LIBXSW := $(OUT)/libxsw.a

$(LIBXSW): $(LIBXSW_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

ALL_TARGETS += $(LIBXSW)
UNIT_LIBS += $(LIBXSW)
