/*
 * upgrade-server.c: the smallest WebSocket upgrade server we could write, to
 * measure what accepting and upgrading connections costs on this machine.
 * One thread, level-triggered epoll: accept, read the request up to its
 * blank line, answer 101 with Sec-WebSocket-Accept; after that it echoes
 * each (small, masked) client frame back unmasked, and after echoing a
 * close frame it closes the socket. No header is checked but the key.
 * Every 100 ms it prints "UNIX_SECONDS UPGRADES_SO_FAR" on stdout.
 *
 * usage: upgrade-server PORT
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ws-handshake.h"

#define MAXFD 65536
#define RBUF 1024

struct conn {
	short len;   /* bytes in buf */
	char up;     /* upgraded */
	char buf[RBUF];
};
static struct conn *conns[MAXFD];

static double now(void) {
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static void drop(int ep, int fd) {
	epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
	close(fd);
	free(conns[fd]);
	conns[fd] = NULL;
}

int main(int argc, char **argv) {
	if (argc != 2) {
		fprintf(stderr, "usage: %s PORT\n", argv[0]);
		return 2;
	}
	int one = 1;
	int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[1])),
	                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (bind(ls, (void *)&a, sizeof a) || listen(ls, 4096)) {
		perror("listen");
		return 1;
	}
	int ep = epoll_create1(0);
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = ls};
	epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
	struct epoll_event evs[512];
	long upgrades = 0;
	double next = now() + 0.1;
	for (;;) {
		int n = epoll_wait(ep, evs, 512, 100);
		double t = now();
		if (t >= next) {
			printf("%.3f %ld\n", t, upgrades);
			fflush(stdout);
			next = t + 0.1;
		}
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd == ls) {
				int c;
				while ((c = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
					if (c >= MAXFD) {
						close(c);
						continue;
					}
					setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
					conns[c] = calloc(1, sizeof(struct conn));
					struct epoll_event e = {.events = EPOLLIN, .data.fd = c};
					epoll_ctl(ep, EPOLL_CTL_ADD, c, &e);
				}
				continue;
			}
			struct conn *k = conns[fd];
			ssize_t r = read(fd, k->buf + k->len, RBUF - k->len);
			if (r <= 0) {
				drop(ep, fd);
				continue;
			}
			k->len += r;
			if (!k->up) {
				k->buf[k->len < RBUF ? k->len : RBUF - 1] = 0;
				char *end = memmem(k->buf, k->len, "\r\n\r\n", 4);
				if (!end) {
					if (k->len == RBUF)
						drop(ep, fd);
					continue;
				}
				char resp[160];
				int m = ws_answer(k->buf, end, resp);
				if (m < 0 || write(fd, resp, m) != m) {
					drop(ep, fd);
					continue;
				}
				upgrades++;
				k->up = 1;
				int rest = k->len - (end + 4 - k->buf);
				memmove(k->buf, end + 4, rest);
				k->len = rest;
			}
			/* Echo every complete frame (payload < 126 bytes, masked). */
			int off = 0, closing = 0;
			char out[RBUF];
			int o = 0;
			while (k->len - off >= 6) {
				unsigned char *f = (unsigned char *)k->buf + off;
				int plen = f[1] & 127;
				if (plen >= 126 || !(f[1] & 128)) {
					closing = 2; /* not what this server is for */
					break;
				}
				if (k->len - off < 6 + plen)
					break;
				out[o++] = f[0];
				out[o++] = plen;
				for (int j = 0; j < plen; j++)
					out[o++] = f[6 + j] ^ f[2 + (j & 3)];
				if ((f[0] & 15) == 8)
					closing = 1;
				off += 6 + plen;
			}
			memmove(k->buf, k->buf + off, k->len - off);
			k->len -= off;
			if (o > 0 && write(fd, out, o) != o)
				closing = 2;
			if (closing)
				drop(ep, fd);
		}
	}
}
