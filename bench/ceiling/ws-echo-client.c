/*
 * ws-echo-client.c: echo-client.c speaking WebSocket, the smallest client
 * that does what `wsbench run bench/echo-loop.yaml` does on the wire.
 * CONNS connections to 127.0.0.1:PORT, each upgraded (the 101 and its
 * Sec-WebSocket-Accept checked), then one 64-byte text message in flight
 * each: masked with a fresh key per frame, as RFC 6455 asks of a client,
 * and counted when its 66-byte echo is in. One thread, epoll, one read and
 * one write per round trip; no latency is recorded. Prints round trips per
 * second and its own CPU time per round trip. Run it against
 * upgrade-server.c, which echoes masked frames back unmasked.
 *
 * WORK_NS, when given, is user-space work added to every round trip: the
 * client spins on the clock for that many nanoseconds after an echo is
 * complete and before it writes the next request, as a load tool's own
 * per-message work (parsing, matching, recording) would. It shows what a
 * given amount of work per round trip costs on this machine, the system
 * time it brings with it included (bench/ceiling.sh echo-budget).
 *
 * usage: ws-echo-client PORT CONNS SECONDS [WORK_NS]
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
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ws-handshake.h"

#define PAYLOAD 64
#define ECHO (2 + PAYLOAD)

static double now(void) {
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static uint64_t rng = 88172645463325252ull;
static uint32_t next32(void) {
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)rng;
}

/* work spins for ns nanoseconds of user-space time. */
static void work(long ns) {
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	do
		clock_gettime(CLOCK_MONOTONIC, &b);
	while ((b.tv_sec - a.tv_sec) * 1000000000L + (b.tv_nsec - a.tv_nsec) < ns);
}

/* send one masked 64-byte text frame of 'e's */
static int send_frame(int fd) {
	unsigned char f[6 + PAYLOAD];
	uint32_t key = next32();
	f[0] = 0x81;
	f[1] = 0x80 | PAYLOAD;
	memcpy(f + 2, &key, 4);
	for (int j = 0; j < PAYLOAD; j++)
		f[6 + j] = 'e' ^ f[2 + (j & 3)];
	return write(fd, f, sizeof f) == sizeof f ? 0 : -1;
}

int main(int argc, char **argv) {
	if (argc != 4 && argc != 5) {
		fprintf(stderr, "usage: %s PORT CONNS SECONDS [WORK_NS]\n", argv[0]);
		return 2;
	}
	long work_ns = argc == 5 ? atol(argv[4]) : 0;
	int n = atoi(argv[2]), one = 1;
	double dur = atof(argv[3]);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[1])),
	                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int ep = epoll_create1(0);
	static char buf[65536];
	int *got = calloc(n + 1024, sizeof *got); /* echo bytes in so far, by fd */
	for (int i = 0; i < n; i++) {
		int s = socket(AF_INET, SOCK_STREAM, 0);
		if (connect(s, (void *)&a, sizeof a)) {
			perror("connect");
			return 1;
		}
		setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		char key[25], req[256], acc[29];
		unsigned char raw[16];
		for (int j = 0; j < 16; j += 4) {
			uint32_t r = next32();
			memcpy(raw + j, &r, 4);
		}
		ws_b64(raw, 16, key);
		int m = snprintf(req, sizeof req,
		                 "GET /echo HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nUpgrade: websocket\r\n"
		                 "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
		                 argv[1], key);
		if (write(s, req, m) != m) {
			perror("upgrade");
			return 1;
		}
		int len = 0;
		char *end = NULL;
		while (!end) {
			int r = read(s, buf + len, sizeof buf - 1 - len);
			if (r <= 0) {
				perror("upgrade response");
				return 1;
			}
			len += r;
			buf[len] = 0;
			end = strstr(buf, "\r\n\r\n");
		}
		ws_accept(key, strlen(key), acc);
		if (strncmp(buf, "HTTP/1.1 101", 12) || !strcasestr(buf, acc) || end + 4 != buf + len) {
			fprintf(stderr, "bad upgrade response\n");
			return 1;
		}
		if (s >= n + 1024) {
			fprintf(stderr, "descriptor %d out of range\n", s);
			return 1;
		}
		struct epoll_event e = {.events = EPOLLIN, .data.fd = s};
		epoll_ctl(ep, EPOLL_CTL_ADD, s, &e);
		if (send_frame(s)) {
			perror("write");
			return 1;
		}
	}
	struct rusage r0, r1;
	getrusage(RUSAGE_SELF, &r0);
	long rt = 0;
	double t0 = now(), end = t0 + dur;
	struct epoll_event evs[1024];
	while (now() < end) {
		int k = epoll_wait(ep, evs, 1024, 100);
		for (int i = 0; i < k; i++) {
			int fd = evs[i].data.fd;
			int r = read(fd, buf, sizeof buf);
			if (r <= 0) {
				perror("read");
				return 1;
			}
			got[fd] += r;
			if (got[fd] < ECHO)
				continue;
			if (got[fd] > ECHO) {
				fprintf(stderr, "unexpected bytes from the server\n");
				return 1;
			}
			got[fd] = 0;
			if (work_ns > 0)
				work(work_ns);
			if (send_frame(fd)) {
				perror("write");
				return 1;
			}
			rt++;
		}
	}
	double el = now() - t0;
	getrusage(RUSAGE_SELF, &r1);
	double user = (r1.ru_utime.tv_sec - r0.ru_utime.tv_sec) + (r1.ru_utime.tv_usec - r0.ru_utime.tv_usec) / 1e6;
	double sys = (r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) + (r1.ru_stime.tv_usec - r0.ru_stime.tv_usec) / 1e6;
	printf("conns %d  round_trips %ld  per_second %.0f  client_cpu_us_per_rt %.2f  client_user_us_per_rt %.2f  client_sys_us_per_rt %.2f\n",
	       n, rt, rt / el, (user + sys) / rt * 1e6, user / rt * 1e6, sys / rt * 1e6);
	return 0;
}
