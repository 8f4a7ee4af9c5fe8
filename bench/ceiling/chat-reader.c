/*
 * chat-reader.c: the room members of bench/fanout-1000.yaml in C, to
 * measure `wsbench serve`'s broadcast without wsbench's reader beside it.
 * CONNS connections to 127.0.0.1:PORT (bound round-robin to SOURCES
 * loopback addresses, 127.0.0.2, …), each upgraded to /chat (the 101 and
 * its Sec-WebSocket-Accept checked), then "nick" and "join" the room
 * "hall" as masked text frames. One thread reads every connection with
 * epoll, parses the frames, and for each "said" event that is not history
 * records now - its "ts" (CLOCK_REALTIME nanoseconds, as `wsbench run`'s
 * {{now_ns}} stamps it) and now - its "srv_ts" (the server's stamp when
 * it handled the "say", the moment the C fan-out server stamps its own
 * messages), until it has COUNT of them, or 60 s pass before the first or
 * 5 s between two; then it prints both latencies' percentiles. The speakers are a
 * wsbench run (bench/fanout-1000-speakers.yaml).
 *
 * usage: chat-reader PORT CONNS COUNT SOURCES
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ws-handshake.h"

enum { RBUF = 65536 };

struct conn {
	int len;
	char buf[RBUF];
};

static long realns(void) {
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return t.tv_sec * 1000000000L + t.tv_nsec;
}

static int cmp(const void *a, const void *b) {
	long x = *(const long *)a, y = *(const long *)b;
	return (x > y) - (x < y);
}

/* send_text writes p as one masked text frame (the mask is fixed: this
 * is a benchmark peer, not a client to trust). */
static int send_text(int s, const char *p) {
	unsigned char f[256];
	size_t n = strlen(p);
	const unsigned char mask[4] = {0x12, 0x34, 0x56, 0x78};
	f[0] = 0x81;
	f[1] = 0x80 | (unsigned char)n;
	memcpy(f + 2, mask, 4);
	for (size_t i = 0; i < n; i++)
		f[6 + i] = (unsigned char)p[i] ^ mask[i & 3];
	return write(s, f, 6 + n) == (ssize_t)(6 + n) ? 0 : -1;
}

static int upgrade(int s, const char *port, int i) {
	if (ws_client_upgrade(s, port, i))
		return -1;
	char nick[64];
	snprintf(nick, sizeof nick, "{\"op\":\"nick\",\"name\":\"c-%d\"}", i);
	return send_text(s, nick) || send_text(s, "{\"op\":\"join\",\"room\":\"hall\"}");
}

int main(int argc, char **argv) {
	if (argc != 5) {
		fprintf(stderr, "usage: %s PORT CONNS COUNT SOURCES\n", argv[0]);
		return 2;
	}
	int n = atoi(argv[2]), nsrc = atoi(argv[4]), one = 1;
	long total = atol(argv[3]), got = 0;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[1])),
	                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int ep = epoll_create1(0);
	struct conn **cs = calloc(n, sizeof *cs);
	int *fds = calloc(n, sizeof *fds);
	for (int i = 0; i < n; i++) {
		int s = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in b = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK + 1 + i % nsrc)};
		if (bind(s, (void *)&b, sizeof b) || connect(s, (void *)&a, sizeof a)) {
			perror("connect");
			return 1;
		}
		setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		if (upgrade(s, argv[1], i)) {
			fprintf(stderr, "upgrade of connection %d failed\n", i);
			return 1;
		}
		fds[i] = s;
		cs[i] = calloc(1, sizeof(struct conn));
		struct epoll_event e = {.events = EPOLLIN, .data.u32 = i};
		epoll_ctl(ep, EPOLL_CTL_ADD, s, &e);
	}
	long *d = malloc(total * sizeof *d), *ds = malloc(total * sizeof *ds);
	struct epoll_event evs[1024];
	while (got < total) {
		int k = epoll_wait(ep, evs, 1024, got ? 5000 : 60000);
		if (k <= 0) {
			fprintf(stderr, "no message for %d s after %ld of %ld\n", got ? 5 : 60, got, total);
			break;
		}
		for (int e = 0; e < k; e++) {
			int i = evs[e].data.u32;
			struct conn *c = cs[i];
			ssize_t r = read(fds[i], c->buf + c->len, RBUF - c->len);
			if (r <= 0) {
				perror("read");
				return 1;
			}
			c->len += r;
			long now = realns();
			int off = 0;
			for (;;) {
				unsigned char *f = (unsigned char *)c->buf + off;
				int avail = c->len - off;
				if (avail < 2)
					break;
				long plen = f[1] & 127;
				int hl = 2;
				if (plen == 126) {
					if (avail < 4)
						break;
					plen = (long)f[2] << 8 | f[3];
					hl = 4;
				} else if (plen == 127) {
					fprintf(stderr, "a frame over 64 KiB\n");
					return 1;
				}
				if (avail < hl + plen)
					break;
				char *p = (char *)f + hl;
				if ((f[0] & 0x0f) == 1 && memmem(p, plen, "\"op\":\"said\"", 11) &&
				    !memmem(p, plen, "\"history\":true", 14) && got < total) {
					char *ts = memmem(p, plen, "\"ts\":", 5);
					char *sts = memmem(p, plen, "\"srv_ts\":", 9);
					if (ts && sts) {
						ts += 5;
						if (*ts == '"')
							ts++;
						ds[got] = now - strtol(sts + 9, NULL, 10);
						d[got++] = now - strtol(ts, NULL, 10);
					}
				}
				off += hl + plen;
			}
			memmove(c->buf, c->buf + off, c->len - off);
			c->len -= off;
		}
	}
	if (got == 0)
		return 1;
	qsort(d, got, sizeof *d, cmp);
	qsort(ds, got, sizeof *ds, cmp);
	printf("client: %ld deliveries  p50 %.2f ms  p90 %.2f ms  p99 %.2f ms  max %.2f ms\n", got, d[got / 2] / 1e6,
	       d[got * 9 / 10] / 1e6, d[got * 99 / 100] / 1e6, d[got - 1] / 1e6);
	printf("from srv_ts: %ld deliveries  p50 %.2f ms  p90 %.2f ms  p99 %.2f ms  max %.2f ms\n", got, ds[got / 2] / 1e6,
	       ds[got * 9 / 10] / 1e6, ds[got * 99 / 100] / 1e6, ds[got - 1] / 1e6);
	return 0;
}
