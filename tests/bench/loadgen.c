/*
 * loadgen - a small asynchronous SMTP load generator for dirmx's benchmark.
 *
 *   loadgen -s HOST:PORT -f RCPTFILE [-c SESSIONS] [-m MESSAGES]
 *           [-r RCPTS] [-S SIZE] [-n MSGS_PER_CONN] [-P] [-x SEED]
 *           [-F SENDER] [-H HELO] [-t TIMEOUT_S] [-l LATENCY_FILE]
 *
 * C sessions run at once on one epoll loop. M messages in all, each with R
 * recipients drawn (seeded, distinct within a message) from RCPTFILE, one
 * address a line, and a body of SIZE bytes. -n: messages sent on one
 * connection before QUIT (default 1: a new connection per message, as
 * most MX traffic arrives). -P pipelines MAIL and the RCPTs (RFC 2920) when
 * the server offers PIPELINING.
 *
 * Measured per message: the time from handing the last byte of
 * "\r\n.\r\n" to the kernel to reading the reply (the "dot-to-250"
 * latency), and the time from sending MAIL to the last RCPT reply. All are
 * kept; p50/p90/p99/max are computed at the end. Replies are counted
 * 2xx/4xx/5xx per phase. Output: one JSON line on stdout.
 *
 * Depends on libc only:  cc -O2 -o loadgen loadgen.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum phase {
	PH_GREET,
	PH_EHLO,
	PH_MAIL,
	PH_RCPT,
	PH_DATA,
	PH_DOT,
	PH_RSET,
	PH_QUIT,
	PH_N
};
static const char *phase_name[PH_N] = {"greeting", "ehlo", "mail", "rcpt",
                                       "data",     "dot",  "rset", "quit"};

enum state {
	ST_CONNECTING,
	ST_GREET,
	ST_EHLO,
	ST_ENV,
	ST_DATA,
	ST_DOT,
	ST_RSET,
	ST_QUIT
};

struct buf {
	char *p;
	size_t len, cap, off;
};

struct sess {
	int fd;
	enum state st;
	struct buf in, out;
	int pipelining; /* server offers it and -P was given */
	int msgs_on_conn;
	int have_msg;   /* a message is claimed for this session */
	int env_expect; /* replies still due for MAIL + RCPTs */
	int env_sent;   /* commands sent for this envelope (non-pipelined) */
	int mail_ok, rcpt_ok;
	int rcpt_idx[64];
	int nrcpt;
	long msg_no;
	double t_env, t_dot, t_last;
	int dot_pending; /* the final dot is still in the output buffer */
	int pl_seen;     /* PIPELINING seen in the reply being read */
	unsigned gen;    /* bumped at every (re)open: the socket changed */
};

static struct {
	const char *host, *port, *rcpt_file, *sender, *helo, *latency_file;
	int sessions, rcpts, per_conn, pipelining;
	long messages;
	size_t size;
	uint64_t seed;
	double timeout;
} opt = {.host = "127.0.0.1",
         .sessions = 10,
         .messages = 100,
         .rcpts = 1,
         .size = 4096,
         .per_conn = 1,
         .seed = 1,
         .sender = "loadgen@bench.example",
         .helo = "loadgen.bench.example",
         .timeout = 60.0};

static char **addrs;
static size_t n_addrs;
static unsigned char *addr_used; /* distinct recipients sent */
static long distinct_rcpts;
static char *body; /* filler lines, dot-safe, ending in CRLF */
static size_t body_len;
static struct addrinfo *server;

static long next_msg;  /* messages claimed so far */
static long done_msgs; /* messages finished (any outcome) */
static long accepted, rejected, tempfailed, failed_sessions, conns;
static long rcpt_accepted, rcpt_rejected, rcpt_tempfailed;
static long counts[PH_N][3]; /* 2xx, 4xx, 5xx */
static long other_replies;
static double *lat_dot, *lat_env;
static long n_dot, n_env;
static int active;
static int ep;
static char first_error[256];

static uint64_t rng;

static uint64_t xrand(void)
{
	/* xorshift64* */
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 2685821657736338717ULL;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "loadgen: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(2);
}

static void note_error(const char *fmt, ...)
{
	va_list ap;

	if (first_error[0])
		return;
	va_start(ap, fmt);
	vsnprintf(first_error, sizeof(first_error), fmt, ap);
	va_end(ap);
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		die("out of memory");
	return p;
}

static void buf_add(struct buf *b, const char *s, size_t n)
{
	if (b->off > 0 && b->off == b->len)
		b->off = b->len = 0;
	if (b->len + n > b->cap) {
		if (b->off > 0) {
			memmove(b->p, b->p + b->off, b->len - b->off);
			b->len -= b->off;
			b->off = 0;
		}
		if (b->len + n > b->cap) {
			size_t cap = b->cap ? b->cap : 4096;

			while (cap < b->len + n)
				cap *= 2;
			b->p = realloc(b->p, cap);
			if (b->p == NULL)
				die("out of memory");
			b->cap = cap;
		}
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

static void buf_printf(struct buf *b, const char *fmt, ...)
{
	char tmp[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		die("command too long");
	buf_add(b, tmp, (size_t)n);
}

static void load_addrs(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[1024];
	size_t cap = 0;

	if (f == NULL)
		die("%s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		size_t n = strcspn(line, "\r\n");

		line[n] = 0;
		if (n == 0 || line[0] == '#')
			continue;
		if (n_addrs == cap) {
			cap = cap ? cap * 2 : 1024;
			addrs = realloc(addrs, cap * sizeof(*addrs));
			if (addrs == NULL)
				die("out of memory");
		}
		addrs[n_addrs++] = strdup(line);
	}
	fclose(f);
	if (n_addrs == 0)
		die("%s: no addresses", path);
}

static void make_body(size_t size)
{
	static const char alphabet[] =
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	struct buf b = {0};
	size_t line = 0;

	/* lines of 76 characters, the last one shorter: SIZE bytes exactly
	 * (one more when a single byte would be left: a line ends in CRLF) */
	while (b.len < size) {
		char l[80];
		size_t i, n = size - b.len < 78 ? size - b.len : 78;

		if (n < 2)
			n = 2;
		for (i = 0; i < n - 2; i++)
			l[i] =
			    alphabet[(line * 7 + i) % (sizeof(alphabet) - 1)];
		l[n - 2] = '\r';
		l[n - 1] = '\n';
		buf_add(&b, l, n);
		line++;
	}
	body = b.p;
	body_len = b.len;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double pct(double *v, long n, double p)
{
	long i;

	if (n == 0)
		return -1;
	/* nearest rank */
	i = (long)(p / 100.0 * n + 0.999999) - 1;
	if (i < 0)
		i = 0;
	if (i >= n)
		i = n - 1;
	return v[i];
}

static void sess_close(struct sess *s);
static void start_message(struct sess *s);
static int open_session(struct sess *s);

static void want_write(struct sess *s, int on)
{
	struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0),
	                         .data.ptr = s};

	epoll_ctl(ep, EPOLL_CTL_MOD, s->fd, &ev);
}

static int flush_out(struct sess *s)
{
	while (s->out.off < s->out.len) {
		ssize_t n = write(s->fd, s->out.p + s->out.off,
		                  s->out.len - s->out.off);

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR) {
				want_write(s, 1);
				return 0;
			}
			note_error("write: %s", strerror(errno));
			return -1;
		}
		s->out.off += (size_t)n;
	}
	if (s->dot_pending) {
		s->dot_pending = 0;
		s->t_dot = now();
	}
	want_write(s, 0);
	return 0;
}

static void count(enum phase ph, int code)
{
	if (code >= 200 && code < 400)
		counts[ph][0]++;
	else if (code >= 400 && code < 500)
		counts[ph][1]++;
	else if (code >= 500 && code < 600)
		counts[ph][2]++;
	else
		other_replies++;
}

static void finish_message(struct sess *s)
{
	s->have_msg = 0;
	done_msgs++;
	s->msgs_on_conn++;
	if (s->msgs_on_conn < opt.per_conn && next_msg < opt.messages) {
		next_msg++;
		s->have_msg = 1;
		start_message(s);
		return;
	}
	buf_add(&s->out, "QUIT\r\n", 6);
	s->st = ST_QUIT;
}

static void send_rset(struct sess *s)
{
	buf_add(&s->out, "RSET\r\n", 6);
	s->st = ST_RSET;
}

static void start_message(struct sess *s)
{
	int i, j, tries;

	s->msg_no = next_msg;
	s->mail_ok = 0;
	s->rcpt_ok = 0;
	s->nrcpt = opt.rcpts;
	for (i = 0; i < s->nrcpt; i++) {
		for (tries = 0; tries < 20; tries++) {
			s->rcpt_idx[i] = (int)(xrand() % n_addrs);
			for (j = 0; j < i; j++)
				if (s->rcpt_idx[j] == s->rcpt_idx[i])
					break;
			if (j == i)
				break;
		}
	}
	for (i = 0; i < s->nrcpt; i++)
		if (!addr_used[s->rcpt_idx[i]]) {
			addr_used[s->rcpt_idx[i]] = 1;
			distinct_rcpts++;
		}
	s->t_env = now();
	buf_printf(&s->out, "MAIL FROM:<%s>\r\n", opt.sender);
	if (s->pipelining) {
		for (i = 0; i < s->nrcpt; i++)
			buf_printf(&s->out, "RCPT TO:<%s>\r\n",
			           addrs[s->rcpt_idx[i]]);
		s->env_sent = 1 + s->nrcpt;
	} else {
		s->env_sent = 1;
	}
	s->env_expect = 0; /* replies seen */
	s->st = ST_ENV;
}

static void send_body(struct sess *s)
{
	char hdr[2048];
	int n, i;

	n = snprintf(hdr, sizeof(hdr),
	             "From: <%s>\r\nTo: <%s>\r\nSubject: bench message %ld\r\n"
	             "Message-Id: <%ld.%d@loadgen.bench.example>\r\n"
	             "Date: Thu, 1 Jan 2026 00:00:00 +0000\r\n",
	             opt.sender, addrs[s->rcpt_idx[0]], s->msg_no, s->msg_no,
	             (int)getpid());
	buf_add(&s->out, hdr, (size_t)n);
	for (i = 1; i < s->nrcpt; i++) {
		n = snprintf(hdr, sizeof(hdr), "Cc: <%s>\r\n",
		             addrs[s->rcpt_idx[i]]);
		buf_add(&s->out, hdr, (size_t)n);
	}
	buf_add(&s->out, "\r\n", 2);
	buf_add(&s->out, body, body_len);
	buf_add(&s->out, ".\r\n", 3);
	s->dot_pending = 1;
	s->t_dot = 0;
	s->st = ST_DOT;
}

/* One complete reply: its code and whether a line says PIPELINING. */
static void on_reply(struct sess *s, int code, int pipelining_seen)
{
	double t = now();

	switch (s->st) {
	case ST_GREET:
		count(PH_GREET, code);
		if (code / 100 != 2) {
			note_error("greeting %d", code);
			s->st = ST_QUIT;
			buf_add(&s->out, "QUIT\r\n", 6);
			return;
		}
		buf_printf(&s->out, "EHLO %s\r\n", opt.helo);
		s->st = ST_EHLO;
		return;
	case ST_EHLO:
		count(PH_EHLO, code);
		if (code / 100 != 2) {
			note_error("EHLO %d", code);
			s->st = ST_QUIT;
			buf_add(&s->out, "QUIT\r\n", 6);
			return;
		}
		s->pipelining = opt.pipelining && pipelining_seen;
		start_message(s);
		return;
	case ST_ENV: {
		int idx = s->env_expect++; /* 0: MAIL, then RCPTs */

		if (idx == 0) {
			count(PH_MAIL, code);
			s->mail_ok = code / 100 == 2;
			if (!s->mail_ok)
				note_error("MAIL %d", code);
		} else {
			count(PH_RCPT, code);
			if (code / 100 == 2) {
				s->rcpt_ok++;
				rcpt_accepted++;
			} else if (code / 100 == 4) {
				rcpt_tempfailed++;
			} else {
				rcpt_rejected++;
			}
		}
		if (!s->pipelining) {
			if (!s->mail_ok) {
				s->env_sent = s->env_expect = 1 + s->nrcpt;
			} else if (s->env_sent < 1 + s->nrcpt) {
				buf_printf(&s->out, "RCPT TO:<%s>\r\n",
				           addrs[s->rcpt_idx[s->env_sent - 1]]);
				s->env_sent++;
				return;
			}
		}
		if (s->env_expect < 1 + s->nrcpt)
			return;
		lat_env[n_env++] = t - s->t_env;
		if (s->mail_ok && s->rcpt_ok > 0) {
			buf_add(&s->out, "DATA\r\n", 6);
			s->st = ST_DATA;
		} else {
			if (s->mail_ok && s->rcpt_ok == 0 && rcpt_tempfailed)
				tempfailed++;
			else
				rejected++;
			send_rset(s);
		}
		return;
	}
	case ST_DATA:
		count(PH_DATA, code);
		if (code != 354) {
			note_error("DATA %d", code);
			if (code / 100 == 4)
				tempfailed++;
			else
				rejected++;
			send_rset(s);
			return;
		}
		send_body(s);
		return;
	case ST_DOT:
		count(PH_DOT, code);
		if (s->t_dot > 0)
			lat_dot[n_dot++] = t - s->t_dot;
		if (code / 100 == 2) {
			accepted++;
		} else {
			note_error("end of DATA %d", code);
			if (code / 100 == 4)
				tempfailed++;
			else
				rejected++;
		}
		finish_message(s);
		return;
	case ST_RSET:
		count(PH_RSET, code);
		finish_message(s);
		return;
	case ST_QUIT:
		count(PH_QUIT, code);
		sess_close(s);
		return;
	default:
		return;
	}
}

/* Parse complete replies out of s->in. Returns -1 when the session ended. */
static int parse_input(struct sess *s)
{
	unsigned fd = s->gen;

	for (;;) {
		char *start = s->in.p + s->in.off;
		size_t avail = s->in.len - s->in.off;
		char *nl = memchr(start, '\n', avail);
		size_t llen;
		int code;

		if (nl == NULL)
			break;
		llen = (size_t)(nl - start) + 1;
		s->in.off += llen;
		if (llen < 4 || start[0] < '0' || start[0] > '9') {
			note_error("bad reply line");
			continue;
		}
		code = (start[0] - '0') * 100 + (start[1] - '0') * 10 +
		       (start[2] - '0');
		if (llen > 14 && strncasecmp(start + 4, "PIPELINING", 10) == 0)
			s->pl_seen = 1;
		if (start[3] == '-')
			continue;
		{
			int pl = s->pl_seen;

			s->pl_seen = 0;
			on_reply(s, code, pl);
		}
		if (s->gen != fd)
			return -1;
	}
	if (s->in.off == s->in.len)
		s->in.off = s->in.len = 0;
	return 0;
}

static void sess_fail(struct sess *s, const char *why)
{
	note_error("%s (state %d)", why, (int)s->st);
	failed_sessions++;
	if (s->have_msg) {
		s->have_msg = 0;
		done_msgs++;
		tempfailed++;
	}
	sess_close(s);
}

static void sess_close(struct sess *s)
{
	if (s->fd >= 0) {
		epoll_ctl(ep, EPOLL_CTL_DEL, s->fd, NULL);
		close(s->fd);
		s->fd = -1;
		active--;
	}
	if (s->have_msg) { /* QUIT/close while a message was claimed */
		s->have_msg = 0;
		done_msgs++;
		tempfailed++;
	}
	s->in.off = s->in.len = 0;
	s->out.off = s->out.len = 0;
	if (next_msg < opt.messages)
		open_session(s);
}

static int open_session(struct sess *s)
{
	struct epoll_event ev;
	int fd, one = 1;

	fd = socket(server->ai_family,
	            SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket: %s", strerror(errno));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, server->ai_addr, server->ai_addrlen) < 0 &&
	    errno != EINPROGRESS) {
		note_error("connect: %s", strerror(errno));
		close(fd);
		failed_sessions++;
		/* count the message as failed so that the run ends */
		next_msg++;
		done_msgs++;
		tempfailed++;
		return -1;
	}
	next_msg++;
	conns++;
	s->fd = fd;
	s->gen++;
	s->st = ST_CONNECTING;
	s->have_msg = 1;
	s->msgs_on_conn = 0;
	s->dot_pending = 0;
	s->t_last = now();
	active++;
	ev.events = EPOLLIN | EPOLLOUT;
	ev.data.ptr = s;
	epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
	return 0;
}

static void on_event(struct sess *s, uint32_t events)
{
	unsigned fd = s->gen; /* a close may reopen the session anew */

	s->t_last = now();
	if (s->st == ST_CONNECTING) {
		int err = 0;
		socklen_t len = sizeof(err);

		if (!(events & (EPOLLIN | EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err) {
			char why[128];

			snprintf(why, sizeof(why), "connect: %s",
			         strerror(err));
			sess_fail(s, why);
			return;
		}
		s->st = ST_GREET;
		want_write(s, 0);
	}
	if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
		for (;;) {
			ssize_t n;

			if (s->in.off > 0) {
				memmove(s->in.p, s->in.p + s->in.off,
				        s->in.len - s->in.off);
				s->in.len -= s->in.off;
				s->in.off = 0;
			}
			if (s->in.cap - s->in.len < 4096) {
				s->in.p = realloc(s->in.p, s->in.cap + 8192);
				if (s->in.p == NULL)
					die("out of memory");
				s->in.cap += 8192;
			}
			n = read(s->fd, s->in.p + s->in.len,
			         s->in.cap - s->in.len);
			if (n > 0) {
				s->in.len += (size_t)n;
				continue;
			}
			if (n == 0) {
				parse_input(s);
				if (s->gen != fd)
					return;
				if (s->st == ST_QUIT)
					sess_close(s);
				else
					sess_fail(
					    s, "connection closed by server");
				return;
			}
			if (errno == EAGAIN || errno == EINTR)
				break;
			sess_fail(s, "read error");
			return;
		}
		parse_input(s);
		if (s->gen != fd)
			return;
	}
	if (flush_out(s) < 0)
		sess_fail(s, "write error");
}

static void usage(void)
{
	fprintf(stderr,
	        "usage: loadgen -s HOST:PORT -f RCPTFILE [-c SESSIONS] "
	        "[-m MESSAGES] [-r RCPTS] [-S SIZE] [-n MSGS_PER_CONN] [-P] "
	        "[-x SEED] [-F SENDER] [-H HELO] [-t TIMEOUT_S] "
	        "[-l LATENCY_FILE]\n");
	exit(2);
}

static void print_stats(const char *name, double *v, long n)
{
	double sum = 0;
	long i;

	if (n == 0) {
		printf("\"%s\":{\"n\":0,\"p50\":null,\"p90\":null,\"p99\":null,"
		       "\"max\":null,\"mean\":null}",
		       name);
		return;
	}
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	for (i = 0; i < n; i++)
		sum += v[i];
	printf("\"%s\":{\"n\":%ld,\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,"
	       "\"max\":%.3f,\"mean\":%.3f}",
	       name, n, pct(v, n, 50) * 1e3, pct(v, n, 90) * 1e3,
	       pct(v, n, 99) * 1e3, n ? v[n - 1] * 1e3 : -1.0,
	       n ? sum / n * 1e3 : -1.0);
}

int main(int argc, char **argv)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
	struct sess *sessions;
	double t0, t1;
	int c, i, rc;
	char *colon;

	while ((c = getopt(argc, argv, "s:f:c:m:r:S:n:Px:F:H:t:l:")) != -1) {
		switch (c) {
		case 's':
			opt.host = strdup(optarg);
			colon = strrchr(optarg, ':');
			if (colon == NULL)
				usage();
			((char *)opt.host)[colon - optarg] = 0;
			opt.port = colon + 1;
			break;
		case 'f':
			opt.rcpt_file = optarg;
			break;
		case 'c':
			opt.sessions = atoi(optarg);
			break;
		case 'm':
			opt.messages = atol(optarg);
			break;
		case 'r':
			opt.rcpts = atoi(optarg);
			break;
		case 'S':
			opt.size = (size_t)atol(optarg);
			break;
		case 'n':
			opt.per_conn = atoi(optarg);
			break;
		case 'P':
			opt.pipelining = 1;
			break;
		case 'x':
			opt.seed = strtoull(optarg, NULL, 10);
			break;
		case 'F':
			opt.sender = optarg;
			break;
		case 'H':
			opt.helo = optarg;
			break;
		case 't':
			opt.timeout = atof(optarg);
			break;
		case 'l':
			opt.latency_file = optarg;
			break;
		default:
			usage();
		}
	}
	if (opt.port == NULL || opt.rcpt_file == NULL || opt.sessions < 1 ||
	    opt.messages < 1 || opt.rcpts < 1 || opt.rcpts > 64 ||
	    opt.per_conn < 1)
		usage();
	signal(SIGPIPE, SIG_IGN);
	rng = opt.seed * 0x9E3779B97F4A7C15ULL + 1;
	load_addrs(opt.rcpt_file);
	make_body(opt.size);
	addr_used = calloc(n_addrs, 1);
	if (addr_used == NULL)
		die("out of memory");
	rc = getaddrinfo(opt.host, opt.port, &hints, &server);
	if (rc != 0)
		die("%s:%s: %s", opt.host, opt.port, gai_strerror(rc));
	lat_dot = xmalloc(sizeof(double) * (size_t)opt.messages);
	lat_env = xmalloc(sizeof(double) * (size_t)opt.messages);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die("epoll: %s", strerror(errno));
	sessions = calloc((size_t)opt.sessions, sizeof(*sessions));
	if (sessions == NULL)
		die("out of memory");
	t0 = now();
	for (i = 0; i < opt.sessions; i++) {
		sessions[i].fd = -1;
		if (next_msg < opt.messages)
			open_session(&sessions[i]);
	}
	while (active > 0) {
		struct epoll_event evs[256];
		int n = epoll_wait(ep, evs, 256, 1000);
		double t = now();

		for (i = 0; i < n; i++)
			on_event(evs[i].data.ptr, evs[i].events);
		if (n == 0 || t - t0 > opt.timeout) {
			for (i = 0; i < opt.sessions; i++)
				if (sessions[i].fd >= 0 &&
				    t - sessions[i].t_last > opt.timeout)
					sess_fail(&sessions[i], "timeout");
		}
	}
	t1 = now();
	if (opt.latency_file) {
		FILE *f = fopen(opt.latency_file, "w");

		if (f) {
			for (i = 0; i < n_dot; i++)
				fprintf(f, "%.6f\n", lat_dot[i]);
			fclose(f);
		}
	}
	printf("{\"server\":\"%s:%s\",\"sessions\":%d,\"messages\":%ld,"
	       "\"rcpts\":%d,\"size\":%zu,\"per_conn\":%d,\"pipelining\":%s,"
	       "\"connections\":%ld,\"accepted\":%ld,\"rejected\":%ld,"
	       "\"tempfailed\":%ld,\"failed_sessions\":%ld,"
	       "\"rcpt_accepted\":%ld,\"rcpt_rejected\":%ld,"
	       "\"rcpt_tempfailed\":%ld,\"distinct_rcpts\":%ld,\"wall_s\":%.4f,"
	       "\"msgs_per_s\":%.2f,",
	       opt.host, opt.port, opt.sessions, opt.messages, opt.rcpts,
	       body_len, opt.per_conn, opt.pipelining ? "true" : "false", conns,
	       accepted, rejected, tempfailed, failed_sessions, rcpt_accepted,
	       rcpt_rejected, rcpt_tempfailed, distinct_rcpts, t1 - t0,
	       (t1 - t0) > 0 ? accepted / (t1 - t0) : 0.0);
	print_stats("dot_ms", lat_dot, n_dot);
	printf(",");
	print_stats("envelope_ms", lat_env, n_env);
	printf(",\"replies\":{");
	for (i = 0; i < PH_N; i++)
		printf("%s\"%s\":[%ld,%ld,%ld]", i ? "," : "", phase_name[i],
		       counts[i][0], counts[i][1], counts[i][2]);
	printf("},\"other_replies\":%ld,\"first_error\":\"", other_replies);
	for (i = 0; first_error[i]; i++)
		if (first_error[i] != '"' && first_error[i] != '\\' &&
		    (unsigned char)first_error[i] >= 0x20)
			putchar(first_error[i]);
	printf("\"}\n");
	(void)done_msgs;
	return 0;
}
