/*
 * fanout-server.c: the smallest room broadcast we could write, to measure
 * what one write per recipient costs over loopback TCP on this machine.
 * It accepts CONNS connections, then every PERIOD_MS milliseconds writes one
 * 100-byte message, stamped with its CLOCK_MONOTONIC send time, to every
 * connection: one write(2) per recipient, split over THREADS threads, or
 * with THREADS = 0 submitted through io_uring in batches of 4,096 sends
 * (only when built with -DHAVE_URING -luring). COUNT messages, then it
 * prints the mean time one broadcast took to issue and exits.
 *
 * With a sixth argument "ws" it is a WebSocket server: it answers each
 * connection's upgrade request (one at a time, as they are accepted), and
 * the message is one 100-byte text frame (2 bytes of header) whose JSON
 * holds the CLOCK_REALTIME send time, as `wsbench run` and a chat server's
 * "said" events stamp it: {"op":"said","room":"hall","from":"c","seq":N,
 * "ts":NANOSECONDS,"text":"xx…"}. A wsbench room member reads it as it
 * reads `wsbench serve`'s (bench/fanout-c-members.yaml); fanout-client in
 * its ws mode is its C reader. It prints "broadcasting" when it starts and
 * "done" 0.5 s after the last broadcast, so that a harness can take the
 * readers' CPU time over the deliveries alone. Then it answers each
 * reader's close frame with its own and exits when all have closed (or
 * after 60 s).
 *
 * usage: fanout-server PORT CONNS COUNT PERIOD_MS THREADS [ws]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#ifdef HAVE_URING
#include <liburing.h>
#endif

#include "ws-handshake.h"

enum { SIZE = 100 };

static int *fds, nconns, nthreads;
static char msg[SIZE];
static pthread_barrier_t start, done;

static int wsmode;

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

/* answer_closes answers every connection's close frame (a frame with
 * opcode 8, read whole or not) with a close frame and closes it; it returns
 * when all are closed, or after 60 s. */
static void answer_closes(void) {
	int ep = epoll_create1(0), open = nconns;
	for (int i = 0; i < nconns; i++) {
		struct epoll_event e = {.events = EPOLLIN, .data.u32 = i};
		epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &e);
	}
	long end = nowns() + 60000000000L;
	struct epoll_event evs[256];
	char buf[256];
	while (open > 0 && nowns() < end) {
		int n = epoll_wait(ep, evs, 256, 1000);
		for (int k = 0; k < n; k++) {
			int i = evs[k].data.u32;
			ssize_t r = read(fds[i], buf, sizeof buf);
			if (r > 0 && (buf[0] & 0x0f) == 8 && write(fds[i], "\x88\x02\x03\xe8", 4) != 4)
				r = 0;
			if (r <= 0 || (buf[0] & 0x0f) == 8) {
				epoll_ctl(ep, EPOLL_CTL_DEL, fds[i], NULL);
				close(fds[i]);
				open--;
			}
		}
	}
}

/* stamp writes message m's send time into msg: raw, the CLOCK_MONOTONIC
 * nanoseconds in its first 8 bytes; ws, the whole text frame. */
static void stamp(int m, long t0) {
	if (!wsmode) {
		memcpy(msg, &t0, sizeof t0);
		return;
	}
	msg[0] = (char)0x81;
	msg[1] = SIZE - 2;
	int n = snprintf(msg + 2, SIZE - 2, "{\"op\":\"said\",\"room\":\"hall\",\"from\":\"c\",\"seq\":%d,\"ts\":%ld,\"text\":\"", m,
	                 realns());
	memset(msg + 2 + n, 'x', SIZE - 2 - n - 2);
	memcpy(msg + SIZE - 2, "\"}", 2);
}

static void write_share(long id) {
	for (int i = id; i < nconns; i += nthreads) {
		if (write(fds[i], msg, SIZE) != SIZE) {
			perror("write");
			exit(1);
		}
	}
}

static void *worker(void *arg) {
	for (;;) {
		pthread_barrier_wait(&start);
		write_share((long)arg);
		pthread_barrier_wait(&done);
	}
	return NULL;
}

#ifdef HAVE_URING
static struct io_uring ring;
static void uring_broadcast(void) {
	for (int i = 0; i < nconns;) {
		int k = 0;
		for (; k < 4096 && i < nconns; k++, i++)
			io_uring_prep_send(io_uring_get_sqe(&ring), fds[i], msg, SIZE, 0);
		io_uring_submit_and_wait(&ring, k);
		struct io_uring_cqe *c;
		unsigned head, seen = 0;
		io_uring_for_each_cqe(&ring, head, c) {
			if (c->res != SIZE) {
				fprintf(stderr, "send: %d\n", c->res);
				exit(1);
			}
			seen++;
		}
		io_uring_cq_advance(&ring, seen);
	}
}
#endif

int main(int argc, char **argv) {
	if (argc != 6 && !(argc == 7 && !strcmp(argv[6], "ws"))) {
		fprintf(stderr, "usage: %s PORT CONNS COUNT PERIOD_MS THREADS [ws]\n", argv[0]);
		return 2;
	}
	wsmode = argc == 7;
	nconns = atoi(argv[2]);
	int count = atoi(argv[3]), one = 1;
	long period = atol(argv[4]) * 1000000L;
	nthreads = atoi(argv[5]);
	int uring = nthreads == 0;
	if (uring) {
#ifdef HAVE_URING
		if (io_uring_queue_init(4096, &ring, 0)) {
			perror("io_uring_queue_init");
			return 1;
		}
#else
		fprintf(stderr, "built without io_uring\n");
		return 2;
#endif
		nthreads = 1;
	}
	int ls = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[1])),
	                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (bind(ls, (void *)&a, sizeof a) || listen(ls, 4096)) {
		perror("listen");
		return 1;
	}
	fds = malloc(nconns * sizeof *fds);
	for (int i = 0; i < nconns; i++) {
		if ((fds[i] = accept(ls, NULL, NULL)) < 0) {
			perror("accept");
			return 1;
		}
		setsockopt(fds[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		if (wsmode && ws_server_upgrade(fds[i])) {
			fprintf(stderr, "upgrade of connection %d failed\n", i);
			return 1;
		}
	}
	if (wsmode) {
		sleep(1); /* the last readers finish their own set-up */
		printf("broadcasting\n");
		fflush(stdout);
	}
	memset(msg, 'x', SIZE);
	pthread_barrier_init(&start, NULL, nthreads);
	pthread_barrier_init(&done, NULL, nthreads);
	for (long t = 1; t < nthreads; t++) {
		pthread_t th;
		pthread_create(&th, NULL, worker, (void *)t);
	}
	long next = nowns() + period, busy = 0;
	for (int m = 0; m < count; m++) {
		long t;
		while ((t = nowns()) < next) {
			struct timespec s = {0, next - t};
			nanosleep(&s, NULL);
		}
		long t0 = nowns();
		stamp(m, t0);
#ifdef HAVE_URING
		if (uring) {
			uring_broadcast();
			goto sent;
		}
#endif
		if (nthreads > 1)
			pthread_barrier_wait(&start);
		write_share(0);
		if (nthreads > 1)
			pthread_barrier_wait(&done);
#ifdef HAVE_URING
	sent:
#endif
		busy += nowns() - t0;
		next += period;
	}
	printf("server: %d broadcasts to %d, mean %.1f ms to issue one (%.2f us per recipient)\n", count, nconns,
	       busy / 1e6 / count, busy / 1e3 / count / nconns);
	fflush(stdout);
	if (wsmode) {
		usleep(500000); /* the readers read the last message */
		printf("done\n");
		fflush(stdout);
		answer_closes();
	}
	return 0;
}
