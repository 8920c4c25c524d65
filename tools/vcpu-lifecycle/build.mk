# tools/vcpu-lifecycle: a small VMM driving real VM lifecycles through KVM.
VCPU_LIFECYCLE := $(OUT)/tools/vcpu-lifecycle/vcpu-lifecycle
VCPU_LIFECYCLE_SRCS := $(sort $(wildcard $(TOP)/tools/vcpu-lifecycle/*.c))
VCPU_LIFECYCLE_OBJS := $(patsubst $(TOP)/%.c,$(OUT)/%.o,$(VCPU_LIFECYCLE_SRCS))

# The pure CPUID-table edits, for tests/unit/test_vcpu_lifecycle_cpuid.c.
LIBVCPU_LIFECYCLE := $(OUT)/tools/vcpu-lifecycle/libvcpu-lifecycle.a

$(VCPU_LIFECYCLE): $(VCPU_LIFECYCLE_OBJS) $(LIBXSW)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(XSW_LDFLAGS) -o $@ $^ $(JANSSON_LIBS) -lpthread

$(LIBVCPU_LIFECYCLE): $(OUT)/tools/vcpu-lifecycle/cpuid.o
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

ALL_TARGETS += $(VCPU_LIFECYCLE)
UNIT_LIBS += $(LIBVCPU_LIFECYCLE)
