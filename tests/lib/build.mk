# tests/lib: helpers the test scripts load or run.
#
# bpf_refuse_first_object.so, an LD_PRELOAD shim that makes the kernel
# appear to refuse the first BPF object a process loads (the syscall tier's
# --reads=auto fallback, tests/integration/xstate_watch_run.sh). Never a
# sanitizer build: it is preloaded into sanitized binaries too.
TEST_SHIM := $(OUT)/tests/lib/bpf_refuse_first_object.so

$(TEST_SHIM): $(TOP)/tests/lib/bpf_refuse_first_object.c | $(OUT)/.dirs
	$(call msg,SHLIB,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -std=gnu11 -Wall -Wextra -D_GNU_SOURCE \
		$(if $(filter 1,$(WERROR)),-Werror) -fPIC -shared -o $@ $< -ldl

TEST_HELPERS += $(TEST_SHIM)

# kvm-uring-close: a VMM whose first VM goes through io_uring's close, which
# no syscall hook sees (tests/integration/xstate_watch_run.sh).
TEST_URING_CLOSE := $(OUT)/tests/lib/kvm-uring-close

$(TEST_URING_CLOSE): $(TOP)/tests/lib/kvm_uring_close.c | $(OUT)/.dirs
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -std=gnu11 -Wall -Wextra -D_GNU_SOURCE \
		$(if $(filter 1,$(WERROR)),-Werror) -o $@ $<

TEST_HELPERS += $(TEST_URING_CLOSE)
