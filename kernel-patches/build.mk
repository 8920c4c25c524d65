# SPDX-License-Identifier: GPL-2.0
#
# kernel-patches: the tracepoint series for Linux 6.12.
#
#   make check-patches   apply the series patch by patch onto the Debian
#                        linux-source-6.12 base, run checkpatch --strict and
#                        compile what each patch touches (TAP output; cached
#                        under build/kernel/check)

.PHONY: check-patches
check-patches:
	$(call msg,CHECK,kernel-patches/v6.12)
	$(Q)XSW_JOBS=2 $(TOP)/kernel-patches/check-patches.sh
