/*
 * fanout-client.c: CONNS connections to 127.0.0.1:PORT, bound round-robin to
 * SOURCES loopback addresses (127.0.0.2, 127.0.0.3, …) so ephemeral ports
 * never run out. One thread reads the 100-byte messages of fanout-server
 * with epoll and records now - the send time in each, until it has
 * CONNS × COUNT of them; then prints delivery-latency percentiles.
 *
 * With a fifth argument "ws" it upgrades each connection first (the 101
 * and its Sec-WebSocket-Accept checked) and reads fanout-server's ws-mode
 * messages: 100-byte text frames whose JSON "ts" is the CLOCK_REALTIME send
 * time.
 *
 * usage: fanout-client PORT CONNS COUNT SOURCES [ws]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ws-handshake.h"

static long nowns(void) {
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000L + t.tv_nsec;
}

static long realns(void) {
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return t.tv_sec * 1000000000L + t.tv_nsec;
}

static int cmp(const void *a, const void *b) {
	long x = *(const long *)a, y = *(const long *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv) {
	if (argc != 5 && !(argc == 6 && !strcmp(argv[5], "ws"))) {
		fprintf(stderr, "usage: %s PORT CONNS COUNT SOURCES [ws]\n", argv[0]);
		return 2;
	}
	int ws = argc == 6;
	int n = atoi(argv[2]), count = atoi(argv[3]), nsrc = atoi(argv[4]);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[1])),
	                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int ep = epoll_create1(0);
	for (int i = 0; i < n; i++) {
		int s = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in b = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK + 1 + i % nsrc)};
		if (bind(s, (void *)&b, sizeof b) || connect(s, (void *)&a, sizeof a)) {
			perror("connect");
			return 1;
		}
		if (ws && ws_client_upgrade(s, argv[1], i)) {
			fprintf(stderr, "upgrade of connection %d failed\n", i);
			return 1;
		}
		struct epoll_event e = {.events = EPOLLIN, .data.fd = s};
		epoll_ctl(ep, EPOLL_CTL_ADD, s, &e);
	}
	long total = (long)n * count, got = 0;
	long *d = malloc(total * sizeof *d);
	char buf[100];
	struct epoll_event evs[1024];
	while (got < total) {
		int k = epoll_wait(ep, evs, 1024, 5000);
		if (k <= 0) {
			fprintf(stderr, "no message for 5 s after %ld of %ld\n", got, total);
			break;
		}
		for (int i = 0; i < k && got < total; i++) {
			/* A message may arrive in pieces; read exactly 100 bytes. */
			int off = 0;
			while (off < 100) {
				ssize_t r = read(evs[i].data.fd, buf + off, 100 - off);
				if (r <= 0) {
					perror("read");
					return 1;
				}
				off += r;
			}
			long t0;
			if (ws) {
				/* a 100-byte frame: 2 bytes of header, then the JSON */
				char *ts = memmem(buf + 2, 98, "\"ts\":", 5);
				if (!ts) {
					fprintf(stderr, "a message without ts\n");
					return 1;
				}
				t0 = strtol(ts + 5, NULL, 10);
				d[got++] = realns() - t0;
				continue;
			}
			memcpy(&t0, buf, sizeof t0);
			d[got++] = nowns() - t0;
		}
	}
	if (got == 0)
		return 1;
	qsort(d, got, sizeof *d, cmp);
	printf("client: %ld deliveries  p50 %.2f ms  p90 %.2f ms  p99 %.2f ms  max %.2f ms\n", got, d[got / 2] / 1e6,
	       d[got * 9 / 10] / 1e6, d[got * 99 / 100] / 1e6, d[got - 1] / 1e6);
	return 0;
}
