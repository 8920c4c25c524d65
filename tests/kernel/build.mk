# tests/kernel: the QEMU test kernel and its guest.
#
#   make kernel      bzImage of Linux 6.12 + kernel-patches/v6.12 (pristine
#                    while the series is empty), tinyconfig +
#                    kernel-patches/config/vm.config; cached under
#                    $(XSW_CACHE)/kernel/<key> (tests/kernel/vm/build-kernel.sh)
#   make vm-selftest the series' KVM selftest xstate_trace_test, built
#                    from the same patched tree; cached under
#                    $(XSW_CACHE)/selftest/<key> (tests/kernel/vm/build-selftest.sh)
#   make initramfs   busybox + /init + the project's binaries, the selftest
#                    and their shared libraries (tests/kernel/vm/mkinitramfs.sh)
#   make vm-test     boot it under QEMU, run the guest plan, check the
#                    serial output (tests/kernel/vm_test.sh, TAP)
#
# The kernel and the guest binaries are never sanitizer builds (the guest
# has no libasan): they always come from the plain build/ tree.
XSW_CACHE ?= /var/cache/xstate-watch
export XSW_CACHE

VM_DIR := $(TOP)/build/kernel
KERNEL_BZIMAGE := $(VM_DIR)/bzImage
VM_INITRAMFS := $(VM_DIR)/initramfs.cpio.gz
KVM_SMOKE := $(VM_DIR)/kvm-smoke
VM_SELFTEST := $(VM_DIR)/xstate_trace_test

# Binaries the guest runs, at the paths their components build them.
VM_GUEST_BINARIES := $(KVM_SMOKE) $(VM_SELFTEST) \
	$(TOP)/build/tools/xstate-size/xstate-size \
	$(TOP)/build/tools/xstate-watch/xstate-watch \
	$(TOP)/build/tools/vcpu-lifecycle/vcpu-lifecycle \
	$(TOP)/tests/kernel/vm/xsw-tier-bench

.PHONY: kernel vm-selftest initramfs vm-test

kernel:
	$(call msg,KERNEL,$(KERNEL_BZIMAGE))
	$(Q)$(TOP)/tests/kernel/vm/build-kernel.sh $(KERNEL_BZIMAGE) >/dev/null

# After the kernel: both scripts apply the series to one tree (build/kernel/vm/src).
# Absent (removed) while the kernel is pristine: the guest then skips its step.
vm-selftest: kernel
	$(call msg,SELFTEST,$(VM_SELFTEST))
	$(Q)$(TOP)/tests/kernel/vm/build-selftest.sh $(VM_SELFTEST) >/dev/null

# Static: the smoke test must run even when the guest's copy of libc is
# what is broken.
$(KVM_SMOKE): $(TOP)/tests/kernel/vm/kvm-smoke.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(filter-out $(SAN_FLAGS),$(XSW_CFLAGS)) -static -o $@ $<

initramfs: $(KVM_SMOKE) vm-selftest
	$(Q)$(MAKE) --no-print-directory -C $(TOP) SAN=0 build-all
	$(call msg,CPIO,$(VM_INITRAMFS))
	$(Q)$(TOP)/tests/kernel/vm/mkinitramfs.sh $(VM_INITRAMFS) $(VM_GUEST_BINARIES)

vm-test:
	$(Q)XSW_TOP=$(TOP) $(TOP)/tests/kernel/vm_test.sh
