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
#   tsc_early_khz=K     (TCG) the host's TSC rate, from /proc/cpuinfo or
#                       $XSW_VM_TSC_KHZ: on a loaded host the guest's PIT
#                       calibration fails, the TSC is marked unstable with
#                       tsc_khz 0, and KVM_RUN in the guest then spins in
#                       kvm_guest_time_update() forever (the nested hang);
#   tsc=reliable        (TCG) the guest TSC is the host's: without this the
#                       clocksource watchdog, comparing it with jiffies that
#                       TCG delivers late, drops to refined-jiffies and every
#                       BPF timestamp gets 4 ms resolution;
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

# TCG's guest TSC counts at the host's TSC rate (QEMU reads the host TSC).
tsc=""
if [ "$accel" = tcg ]; then
	khz=${XSW_VM_TSC_KHZ-$(awk '/^cpu MHz/ { printf "%d", $4 * 1000; exit }' /proc/cpuinfo)}
	[ -n "$khz" ] && [ "$khz" != 0 ] && tsc="tsc_early_khz=$khz tsc=reliable"
fi
cmdline="console=ttyS0 oops=panic panic=-1 $tsc kvm.halt_poll_ns=0 xsw.plan=$plan $append"
echo "$qemu -accel $accel -cpu $cpu -smp $smp -m $mem ... -append \"$cmdline\"" >"$outdir/qemu.cmd"
rc=0
timeout --kill-after=5 "$timeout_s" "$qemu" \
	-accel "$accel" -cpu "$cpu" -smp "$smp" -m "$mem" \
	-nodefaults -display none -no-reboot \
	-serial "file:$outdir/console.log" -serial "file:$outdir/data.log" \
	-kernel "$kernel" -initrd "$initrd" -append "$cmdline" \
	</dev/null >"$outdir/qemu.out" 2>&1 || rc=$?
exit $rc
