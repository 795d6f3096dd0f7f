/*
 * ctlsrv.h - routerd's control socket, for `dirmxctl queue`.
 *
 * A UNIX socket (mode 0600, owned by routerd's user; root and that user
 * only, checked with SO_PEERCRED). The protocol is deliberately small and
 * POP3-like, for one admin tool:
 *
 *   request:  one line, "VERB [ID]\n", VERB one of LIST, SHOW, FLUSH,
 *             HOLD, RELEASE, DELETE (ID required except for LIST and
 *             FLUSH, where none means all), RELOAD (no ID), or
 *             "SUMMARY [STATE]", the queue's shape by domain and age
 *             (qshape.h), STATE one of incoming, active, deferred, held
 *             (none: all);
 *   answer:   "+OK" or "-ERR <reason>" on the first line, then for LIST,
 *             SHOW, SUMMARY and RELOAD the text to print, one line each, a
 *             line starting with "." doubled, and a final "." line. RELOAD
 *             re-reads the configuration as SIGHUP does; its text is
 *             service_reload()'s report (service.h). HOLD, RELEASE and
 *             DELETE answer once the spool has the change (queue.h).
 *
 * Everything that came from the network (addresses, reply texts) is
 * printed with control characters escaped, so a hostile sender cannot
 * forge lines on the admin's terminal; well-formed UTF-8 (SMTPUTF8
 * addresses) is printed as it is, bidirectional controls excepted
 * (intl_put_printable() in intl.h).
 */
#ifndef DIRMX_CTLSRV_H
#define DIRMX_CTLSRV_H

struct event_base;
struct queue;
struct ctlsrv;

/* Create the socket (call as root, before dropping privileges). */
struct ctlsrv *ctlsrv_new(struct event_base *base, const char *path,
                          const char *owner, const char **error_r);
/* Serve requests once the queue exists. */
void ctlsrv_start(struct ctlsrv *c, struct queue *q);
void ctlsrv_deinit(struct ctlsrv **c);

#endif
