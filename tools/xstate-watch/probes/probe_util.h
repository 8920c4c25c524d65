/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers the tier loaders share (internal to probes/): libbpf's log,
 * "can this kernel run it" probes, the ring buffer size.
 */
#ifndef XSW_PROBE_UTIL_H
#define XSW_PROBE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xsw_err.h"

/*
 * Route libbpf's log: with @verbose every message goes to stderr with a
 * "libbpf: " prefix; otherwise nothing is printed and the last warnings
 * are kept for xsw_libbpf_log_tail() to append to an error message.
 */
void xsw_libbpf_log_setup(bool verbose);
void xsw_libbpf_log_clear(void);
const char *xsw_libbpf_log_tail(void);	/* "" when libbpf said nothing */

/* The tracefs root in use ("/sys/kernel/tracing" or the debugfs one), or NULL. */
const char *xsw_tracefs_root(void);
/* 0 when tracefs has events/@category/@name, else -ENOENT and why in @err. */
int xsw_tracefs_event_check(const char *category, const char *name, struct xsw_err *err);

/*
 * libbpf-tools' probe_tp_btf pattern: load and attach an empty tp_btf
 * program on raw tracepoint @name. 0 when that works, else -errno and why.
 */
int xsw_probe_tp_btf(const char *name, struct xsw_err *err);
/* Same for fentry on kernel function @func (fentry_can_attach). */
int xsw_probe_fentry(const char *func, struct xsw_err *err);

/*
 * Runs of @obj's loaded programs that the kernel skipped, summed
 * (bpf_prog_info.recursion_misses, v5.12+; 0 where absent). The kernel
 * skips a tracing program's run when that program, or for classic
 * tracepoint programs any kprobe or tracepoint program, is already
 * running on the CPU; the skipped run's event is lost without the ring
 * buffer ever seeing it.
 */
struct bpf_object;
uint64_t xsw_bpf_object_skips(const struct bpf_object *obj);

/* Ring buffer bytes for @kib (0 = default 1 MiB): a power of two >= one page. */
unsigned long xsw_ringbuf_bytes(unsigned int kib);

/*
 * Longest an event submitted without a wakeup waits to be read: each
 * tier's BPF side wakes the collector only once a batch is waiting
 * (xsw_submit_flags() in bpf/xsw_core.h, at wakeup_bytes: a quarter of
 * the ring), so each tier's poll waits at most this long and then
 * consumes whatever is there; epoll does not report data submitted
 * unannounced.
 */
#define XSW_DRAIN_MS 100

/*
 * Wait for @rb at most @timeout_ms (and never past XSW_DRAIN_MS; < 0:
 * that long), then consume what is there. Records consumed, or -errno;
 * a signal is not an error.
 */
struct ring_buffer;
int xsw_ring_drain(struct ring_buffer *rb, int timeout_ms);

#endif /* XSW_PROBE_UTIL_H */
