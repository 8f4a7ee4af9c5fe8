/*
 * echo-client.c: the smallest ping-pong client we could write. CONNS
 * connections to 127.0.0.1:PORT, each with one 64-byte message in flight;
 * one thread, epoll, one read and one write per round trip. Prints round
 * trips per second and its own CPU time per round trip.
 *
 * usage: echo-client PORT CONNS SECONDS
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
	if (argc != 4) {
		fprintf(stderr, "usage: %s PORT CONNS SECONDS\n", argv[0]);
		return 2;
	}
	int n = atoi(argv[2]), one = 1;
	double dur = atof(argv[3]);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[1])),
	                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int ep = epoll_create1(0);
	static char msg[64], buf[65536];
	for (int i = 0; i < n; i++) {
		int s = socket(AF_INET, SOCK_STREAM, 0);
		if (connect(s, (void *)&a, sizeof a)) {
			perror("connect");
			return 1;
		}
		setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		struct epoll_event e = {.events = EPOLLIN, .data.fd = s};
		epoll_ctl(ep, EPOLL_CTL_ADD, s, &e);
		if (write(s, msg, sizeof msg) != sizeof msg) {
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
			if (read(fd, buf, sizeof buf) <= 0 || write(fd, msg, sizeof msg) != sizeof msg) {
				perror("round trip");
				return 1;
			}
			rt++;
		}
	}
	double el = now() - t0;
	getrusage(RUSAGE_SELF, &r1);
	double cpu = (r1.ru_utime.tv_sec - r0.ru_utime.tv_sec) + (r1.ru_utime.tv_usec - r0.ru_utime.tv_usec) / 1e6 +
	             (r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) + (r1.ru_stime.tv_usec - r0.ru_stime.tv_usec) / 1e6;
	printf("conns %d  round_trips %ld  per_second %.0f  client_cpu_us_per_rt %.2f\n", n, rt, rt / el, cpu / rt * 1e6);
	return 0;
}
