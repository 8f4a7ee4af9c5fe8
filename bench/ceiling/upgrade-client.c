/*
 * upgrade-client.c: the smallest WebSocket churn client we could write. It
 * keeps CONCURRENCY connections in flight to 127.0.0.1:PORT, each going
 * through the shape of bench/upgrade-churn.yaml's steps and then starting
 * over: connect, send the upgrade request (fresh random key), read the 101
 * and check Sec-WebSocket-Accept, send a masked "hi" and read its echo,
 * send a masked close frame and read the server's close, close the socket.
 * One thread, level-triggered epoll, no other work. Prints the upgrades per
 * second and its own CPU time per upgrade.
 *
 * With HOLD (the shape of bench/upgrade-hold.yaml's ramp) it instead opens
 * HOLD connections in all, CONCURRENCY at a time, from SOURCES loopback
 * addresses (127.0.0.2, …), upgrades each and keeps it open (no echo, no
 * close) until SECONDS have passed.
 *
 * usage: upgrade-client PORT CONCURRENCY SECONDS [HOLD SOURCES]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ws-handshake.h"

enum { CONNECTING, UPGRADING, ECHOING, CLOSING };

struct slot {
	int fd, state, len;
	char want[29];
	char buf[512];
};

static struct sockaddr_in addr;
static int ep, nsrc;
static long opened;
static unsigned long long rnd = 88172645463325252ULL;

static unsigned long long xrand(void) {
	rnd ^= rnd << 13, rnd ^= rnd >> 7, rnd ^= rnd << 17;
	return rnd;
}

static double now(void) {
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static void start(struct slot *s) {
	s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	int one = 1;
	setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	s->state = CONNECTING;
	s->len = 0;
	if (nsrc > 0) {
		struct sockaddr_in b = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK + 1 + opened % nsrc)};
		if (bind(s->fd, (void *)&b, sizeof b)) {
			perror("bind");
			exit(1);
		}
	}
	opened++;
	if (connect(s->fd, (void *)&addr, sizeof addr) && errno != EINPROGRESS) {
		perror("connect");
		exit(1);
	}
	struct epoll_event e = {.events = EPOLLOUT, .data.ptr = s};
	epoll_ctl(ep, EPOLL_CTL_ADD, s->fd, &e);
}

/* frame writes a masked client frame with a small payload. */
static int frame(int fd, int op, const char *p, int n) {
	unsigned char f[6 + 125];
	unsigned int m = (unsigned int)xrand();
	f[0] = 0x80 | op;
	f[1] = 0x80 | n;
	memcpy(f + 2, &m, 4);
	for (int i = 0; i < n; i++)
		f[6 + i] = p[i] ^ f[2 + (i & 3)];
	return write(fd, f, 6 + n) == 6 + n;
}

int main(int argc, char **argv) {
	if (argc != 4 && argc != 6) {
		fprintf(stderr, "usage: %s PORT CONCURRENCY SECONDS [HOLD SOURCES]\n", argv[0]);
		return 2;
	}
	int n = atoi(argv[2]);
	long hold = argc == 6 ? atol(argv[4]) : 0;
	nsrc = argc == 6 ? atoi(argv[5]) : 0;
	if (hold > 0 && n > hold)
		n = hold;
	double dur = atof(argv[3]);
	addr = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons(atoi(argv[1])),
	                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	rnd ^= (unsigned long long)getpid() << 20;
	ep = epoll_create1(0);
	struct slot *slots = calloc(n, sizeof *slots);
	struct rusage r0, r1;
	getrusage(RUSAGE_SELF, &r0);
	double t0 = now(), end = t0 + dur;
	for (int i = 0; i < n; i++)
		start(&slots[i]);
	long done = 0, failed = 0;
	struct epoll_event evs[1024];
	while (now() < end) {
		int k = epoll_wait(ep, evs, 1024, 100);
		for (int i = 0; i < k; i++) {
			struct slot *s = evs[i].data.ptr;
			int ok = 1;
			if (s->state == CONNECTING) {
				int err = 0;
				socklen_t el = sizeof err;
				getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &el);
				if (err) {
					ok = 0;
				} else {
					unsigned char raw[16];
					char key[29];
					for (int j = 0; j < 16; j++)
						raw[j] = (unsigned char)xrand();
					ws_b64(raw, 16, key); /* 24 characters */
					ws_accept(key, 24, s->want);
					char req[256];
					int m = snprintf(req, sizeof req,
					                 "GET /echo HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nUpgrade: websocket\r\n"
					                 "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
					                 argv[1], key);
					ok = write(s->fd, req, m) == m;
					s->state = UPGRADING;
					struct epoll_event e = {.events = EPOLLIN, .data.ptr = s};
					epoll_ctl(ep, EPOLL_CTL_MOD, s->fd, &e);
				}
			} else {
				ssize_t r = read(s->fd, s->buf + s->len, sizeof s->buf - 1 - s->len);
				if (r <= 0) {
					ok = 0;
				} else {
					s->len += r;
					s->buf[s->len] = 0;
					if (s->state == UPGRADING) {
						char *e = memmem(s->buf, s->len, "\r\n\r\n", 4);
						if (e) {
							char *acc = strcasestr(s->buf, "\r\nSec-WebSocket-Accept: ");
							if (strncmp(s->buf, "HTTP/1.1 101", 12) || !acc || strncmp(acc + 24, s->want, 28)) {
								ok = 0;
							} else {
								s->len -= e + 4 - s->buf;
								memmove(s->buf, e + 4, s->len);
								if (hold > 0) {
									/* held: out of epoll, the next one starts */
									done++;
									epoll_ctl(ep, EPOLL_CTL_DEL, s->fd, NULL);
									if (opened < hold)
										start(s);
									continue;
								}
								ok = frame(s->fd, 1, "hi", 2);
								s->state = ECHOING;
							}
						}
					}
					if (ok && s->state == ECHOING && s->len >= 4) {
						ok = memcmp(s->buf, "\x81\x02hi", 4) == 0 && frame(s->fd, 8, "\x03\xe8", 2);
						s->len -= 4;
						memmove(s->buf, s->buf + 4, s->len);
						s->state = CLOSING;
					}
					if (ok && s->state == CLOSING && s->len >= 4) {
						done++;
						close(s->fd);
						start(s);
						continue;
					}
				}
			}
			if (!ok) {
				failed++;
				close(s->fd);
				if (hold == 0 || opened < hold)
					start(s);
			}
		}
	}
	double el = now() - t0;
	getrusage(RUSAGE_SELF, &r1);
	double cpu = (r1.ru_utime.tv_sec - r0.ru_utime.tv_sec) + (r1.ru_utime.tv_usec - r0.ru_utime.tv_usec) / 1e6 +
	             (r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) + (r1.ru_stime.tv_usec - r0.ru_stime.tv_usec) / 1e6;
	printf("concurrency %d  upgrades %ld  failed %ld  per_second %.0f  client_cpu_us_per_upgrade %.2f\n", n, done, failed,
	       done / el, done ? cpu / done * 1e6 : 0);
	return 0;
}
