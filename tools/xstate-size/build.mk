# tools/xstate-size: the size model on the command line (and --dump-cpu).
XSTATE_SIZE := $(OUT)/tools/xstate-size/xstate-size

$(XSTATE_SIZE): $(OUT)/tools/xstate-size/main.o $(LIBXSW)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(XSW_LDFLAGS) -o $@ $^

ALL_TARGETS += $(XSTATE_SIZE)
