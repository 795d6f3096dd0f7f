/*
 * authdpeer.h - a hand-driven authd for unit tests: a listening UNIX
 * socket in a fresh temporary folder, and the test's end of the one
 * connection an authd client (lib/authc.c) opens to it.
 *
 * The test decides what "authd" does between turns of its event loop:
 * which request lines it expects, what it answers and when, when it
 * closes. Every wait pumps the given event loop (so the client under
 * test makes progress) and fails the test (cmocka) after 5 s.
 */
#ifndef DIRMX_AUTHDPEER_H
#define DIRMX_AUTHDPEER_H

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct authdpeer;

struct authdpeer *authdpeer_new(struct event_base *base);
/* The loop to pump, when it was not known at authdpeer_new(). */
void authdpeer_set_base(struct authdpeer *p, struct event_base *base);
void authdpeer_free(struct authdpeer **p);
const char *authdpeer_path(const struct authdpeer *p);
/* One non-blocking turn of the event loop, then a short sleep. */
void authdpeer_pump(struct authdpeer *p);
long long authdpeer_now_ms(void);

/* Take a new connection, if one is waiting (the old one is closed). */
bool authdpeer_try_accept(struct authdpeer *p);
void authdpeer_accept(struct authdpeer *p);
/* Accept, expect "HELLO 0 version=1 client=<client>", answer OK. */
void authdpeer_hello(struct authdpeer *p, const char *client);
/* The next line the client sent, without its LF. */
void authdpeer_line(struct authdpeer *p, char *out, size_t size);
/* Is there a whole line waiting (after pumping for ms)? */
bool authdpeer_has_line(struct authdpeer *p, unsigned ms);
void authdpeer_expect(struct authdpeer *p, const char *line);
void authdpeer_send(struct authdpeer *p, const char *s);
void authdpeer_send_bytes(struct authdpeer *p, const void *s, size_t n);
/* Close the connection (the listener stays). */
void authdpeer_hangup(struct authdpeer *p);
/* Close and remove the listener: connecting fails with ENOENT. */
void authdpeer_unlisten(struct authdpeer *p);
/* True when the client closed the connection within 2 s. */
bool authdpeer_sees_eof(struct authdpeer *p);

#endif
