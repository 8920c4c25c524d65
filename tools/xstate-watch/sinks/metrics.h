/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The /metrics sink: keeps a Prometheus registry (text exposition format
 * 0.0.4, prefix xstate_watch_) updated from the engine's events and
 * findings, and serves it over HTTP with libmicrohttpd.
 *
 * Threads: the engine thread updates the registry through the sink;
 * libmicrohttpd's own thread renders it on each scrape. A mutex guards the
 * registry; a scrape holds it only to copy the registry, and formats and
 * sends the copy after dropping it, so a slow scraper never stalls event
 * processing.
 */
#ifndef XSW_METRICS_H
#define XSW_METRICS_H

#include <stddef.h>

#include "../engine.h"
#include "xsw_err.h"

struct xsw_metrics;

/*
 * Start serving /metrics on @addr: "HOST:PORT", "[V6ADDR]:PORT", or
 * ":PORT" (which means 127.0.0.1: the collector only listens beyond
 * loopback when the user names an address). @tier is the probe tier shown
 * in the info metric ("tracepoint", "syscall", "replay", ...).
 * @addr == NULL creates the registry without a server (tests, replay).
 * Returns NULL with @err naming the address and the errno on a bad
 * address, a port in use or an address this host does not have, and
 * naming libmicrohttpd and the loader's error when it cannot be loaded.
 */
struct xsw_metrics *xsw_metrics_start(const char *addr, const char *tier,
				      struct xsw_err *err);

/*
 * Change the tier the info metric shows, e.g. once the probe tier is
 * chosen after the server started ("syscall", "tracepoint", "replay").
 */
void xsw_metrics_set_tier(struct xsw_metrics *m, const char *tier);

/* Fill @out with a sink that updates @m; add it with xsw_engine_add_sink(). */
void xsw_metrics_sink(struct xsw_metrics *m, struct xsw_sink *out);

/*
 * Render the whole exposition (what GET /metrics returns). Returns a
 * malloc'd NUL-terminated buffer, its length in @len; NULL on ENOMEM.
 */
char *xsw_metrics_render(struct xsw_metrics *m, size_t *len);

/* The port actually bound (useful with port 0), 0 without a server. */
unsigned int xsw_metrics_port(const struct xsw_metrics *m);

/* Stop the server (waits for in-flight scrapes) and free the registry. */
void xsw_metrics_stop(struct xsw_metrics *m);

#endif /* XSW_METRICS_H */
