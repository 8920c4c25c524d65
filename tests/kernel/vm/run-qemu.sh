#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Boot the test kernel once under QEMU and keep its serial output.
#
#   tests/kernel/vm/run-qemu.sh [options] BZIMAGE INITRAMFS OUTDIR
#     --plan NAME      guest plan (/etc/xsw/plan.NAME; default full)
#     --timeout S      hard limit for the whole boot (default 600)
#     --cpu MODEL      QEMU -cpu (default max)
#     --smp N          vCPUs (default 1)
#     --mem MB         memory (default 1024)
#     --accel A        tcg (default) or kvm
#     --append ARGS    extra kernel command line
#
# OUTDIR/console.log is ttyS0 (kernel messages, step markers), OUTDIR/data.log
# is ttyS1 (result files). Exit status: QEMU's, 124 when --timeout expired.
#
# Defaults and why (measured, see docs/kernel-testing.md):
#   -smp 1              one guest CPU: under TCG a second vCPU only adds
#                       round-robin scheduling of the emulated CPUs;
#   kvm.halt_poll_ns=0  the guest KVM must not busy-poll on HLT;
#   oops=panic panic=-1 an oops ends the boot at once (-no-reboot) instead
#                       of waiting for the step timeouts.
set -euo pipefail

plan=full timeout_s=600 cpu=max smp=1 mem=1024 accel=tcg append=""
while [ $# -gt 0 ]; do
	case "$1" in
	--plan) plan=$2; shift 2 ;;
	--timeout) timeout_s=$2; shift 2 ;;
	--cpu) cpu=$2; shift 2 ;;
	--smp) smp=$2; shift 2 ;;
	--mem) mem=$2; shift 2 ;;
	--accel) accel=$2; shift 2 ;;
	--append) append=$2; shift 2 ;;
	--) shift; break ;;
	-*) echo "run-qemu: unknown option $1" >&2; exit 2 ;;
	*) break ;;
	esac
done
[ $# -eq 3 ] || { sed -n '4,16p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
kernel=$1 initrd=$2 outdir=$3
qemu=${XSW_QEMU:-qemu-system-x86_64}

for f in "$kernel" "$initrd"; do
	[ -r "$f" ] || { echo "run-qemu: $f not found" >&2; exit 2; }
done
mkdir -p "$outdir"
rm -f "$outdir/console.log" "$outdir/data.log"

cmdline="console=ttyS0 oops=panic panic=-1 kvm.halt_poll_ns=0 xsw.plan=$plan $append"
echo "$qemu -accel $accel -cpu $cpu -smp $smp -m $mem ... -append \"$cmdline\"" >"$outdir/qemu.cmd"
rc=0
timeout --kill-after=5 "$timeout_s" "$qemu" \
	-accel "$accel" -cpu "$cpu" -smp "$smp" -m "$mem" \
	-nodefaults -display none -no-reboot \
	-serial "file:$outdir/console.log" -serial "file:$outdir/data.log" \
	-kernel "$kernel" -initrd "$initrd" -append "$cmdline" \
	</dev/null >"$outdir/qemu.out" 2>&1 || rc=$?
exit $rc
