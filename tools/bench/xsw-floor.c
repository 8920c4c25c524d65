// SPDX-License-Identifier: GPL-2.0
/*
 * xsw-floor: attach empty programs to one set of the syscall tier's hooks
 * and wait for SIGINT/SIGTERM, so that `make bench` can measure what the
 * attach points cost by themselves.
 *
 *   xsw-floor --hooks events   syscalls:sys_{enter,exit}_{ioctl,arch_prctl},
 *                              sys_enter_close (the default hooks)
 *   xsw-floor --hooks raw      tp_btf raw_syscalls sys_enter/sys_exit
 *                              (--syscall-hooks=raw)
 *   xsw-floor --hooks H --emit the same hooks, and a bare record per
 *                              successful KVM_CREATE_VCPU, drained here the
 *                              way xstate-watch drains its ring
 *
 * Prints "xsw-floor: attached (HOOKS)" on stderr once every program is in,
 * and with --emit "xsw-floor: N records, M dropped" when it stops.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include "bpf/xsw_floor.skel.h"

#define FLOOR_RING_BYTES (1u << 20)	/* xstate-watch's default ring */
#define FLOOR_DRAIN_MS 100		/* XSW_DRAIN_MS */

static volatile sig_atomic_t stop;

static int count_record(void *ctx, void *data, size_t size)
{
	(void)data;
	(void)size;
	++*(unsigned long long *)ctx;
	return 0;
}

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

int main(int argc, char **argv)
{
	struct xsw_floor *skel;
	struct sigaction sa = { .sa_handler = on_signal };
	unsigned long long records = 0;
	struct ring_buffer *rb = NULL;
	bool raw, emit;
	int ret;

	emit = argc == 4 && !strcmp(argv[3], "--emit");
	if ((argc != 3 && !emit) || strcmp(argv[1], "--hooks") ||
	    (strcmp(argv[2], "events") && strcmp(argv[2], "raw"))) {
		fprintf(stderr, "usage: xsw-floor --hooks events|raw [--emit]\n");
		return 2;
	}
	raw = !strcmp(argv[2], "raw");
	skel = xsw_floor__open();
	if (!skel) {
		fprintf(stderr, "xsw-floor: opening the BPF object failed: %s\n", strerror(errno));
		return 1;
	}
	bpf_program__set_autoload(skel->progs.floor_ioctl_enter, !raw);
	bpf_program__set_autoload(skel->progs.floor_ioctl_exit, !raw);
	bpf_program__set_autoload(skel->progs.floor_prctl_enter, !raw);
	bpf_program__set_autoload(skel->progs.floor_prctl_exit, !raw);
	bpf_program__set_autoload(skel->progs.floor_close_enter, !raw);
	bpf_program__set_autoload(skel->progs.floor_close_range_enter, !raw);
	bpf_program__set_autoload(skel->progs.floor_dup2_enter, !raw);
	bpf_program__set_autoload(skel->progs.floor_dup3_enter, !raw);
	bpf_program__set_autoload(skel->progs.floor_raw_sys_enter, raw);
	bpf_program__set_autoload(skel->progs.floor_raw_sys_exit, raw);
	skel->rodata->emit_create_vcpu = emit;
	skel->rodata->wakeup_bytes = FLOOR_RING_BYTES / 4;
	bpf_map__set_max_entries(skel->maps.events, FLOOR_RING_BYTES);
	ret = xsw_floor__load(skel);
	if (!ret)
		ret = xsw_floor__attach(skel);
	if (!ret && emit) {
		rb = ring_buffer__new(bpf_map__fd(skel->maps.events), count_record, &records, NULL);
		if (!rb)
			ret = -errno;
	}
	if (ret) {
		fprintf(stderr, "xsw-floor: loading or attaching the %s hooks failed: %s\n",
			argv[2], strerror(-ret));
		xsw_floor__destroy(skel);
		return 1;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	fprintf(stderr, "xsw-floor: attached (%s%s)\n", argv[2], emit ? ", emitting" : "");
	while (!stop) {
		if (!rb) {
			pause();
			continue;
		}
		ret = ring_buffer__poll(rb, FLOOR_DRAIN_MS);
		if (ret < 0 && ret != -EINTR) {
			fprintf(stderr, "xsw-floor: reading the ring buffer failed: %s\n",
				strerror(-ret));
			break;
		}
	}
	if (rb) {
		ring_buffer__consume(rb);
		fprintf(stderr, "xsw-floor: %llu records, %llu dropped\n", records,
			(unsigned long long)skel->bss->dropped);
		ring_buffer__free(rb);
	}
	xsw_floor__destroy(skel);
	return ret < 0 && ret != -EINTR ? 1 : 0;
}
