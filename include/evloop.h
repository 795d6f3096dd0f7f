/*
 * evloop.h - the little dirmx adds on top of libevent.
 *
 * Each daemon has one libevent event_base, created here and passed around
 * as struct event_base *; modules that need sockets in the loop (dns.c for
 * c-ares, the LDAP pool) use libevent's own event API on it. This file
 * only adds what every caller would otherwise repeat: one-shot timers in
 * milliseconds that can be re-armed, and signal handlers run from the
 * loop (so they may do anything, unlike a signal handler).
 *
 * Nothing here returns NULL: libevent fails only on out-of-memory, which
 * aborts the process as alloc.h does. Every *_free(&p) stops what it
 * frees, sets *p to NULL, and accepts a NULL *p. A timer or signal may be
 * freed from inside its own callback.
 */
#ifndef DIRMX_EVLOOP_H
#define DIRMX_EVLOOP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/time.h>

struct event_base;
struct evloop_timer;
struct evloop_signal;

typedef void evloop_callback_t(void *context);

/* A base that polls its descriptors again after at most 64 callbacks. */
struct event_base *evloop_new(void);
/* Free the base; every event on it must be freed first. */
void evloop_free(struct event_base **base);
/* Run until no events are left or evloop_break() is called. */
void evloop_run(struct event_base *base);
void evloop_break(struct event_base *base);

void evloop_ms_to_timeval(unsigned int ms, struct timeval *tv_r);

/* Milliseconds on the monotonic clock (CLOCK_MONOTONIC). */
uint64_t evloop_now_ms(void);

/* A stopped one-shot timer. */
struct evloop_timer *evloop_timer_new(struct event_base *base,
                                      evloop_callback_t *callback,
                                      void *context);
/* (Re)arm: the callback runs once, ms (or *tv) from now. 0 means after
 * the callbacks already due, in the same round of the loop (never
 * inside the caller). */
void evloop_timer_start(struct evloop_timer *timer, unsigned int ms);
void evloop_timer_start_tv(struct evloop_timer *timer,
                           const struct timeval *tv);
void evloop_timer_stop(struct evloop_timer *timer);
bool evloop_timer_pending(const struct evloop_timer *timer);
void evloop_timer_free(struct evloop_timer **timer);

/* The callback runs from the loop each time signo arrives. */
struct evloop_signal *evloop_signal_new(struct event_base *base, int signo,
                                        evloop_callback_t *callback,
                                        void *context);
void evloop_signal_free(struct evloop_signal **sig);

#endif
