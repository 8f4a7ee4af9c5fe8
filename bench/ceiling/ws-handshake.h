/*
 * ws-handshake.h: what the ceiling programs share: SHA-1 and base64 for
 * Sec-WebSocket-Accept (RFC 6455 section 4.2.2), and the two sides of a
 * blocking upgrade (one request and its 101, nothing more). The including
 * program defines _GNU_SOURCE first (strcasestr).
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void sha1(const unsigned char *msg, size_t len, unsigned char out[20]) {
	uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
	unsigned char block[64];
	uint64_t bits = (uint64_t)len * 8;
	size_t total = ((len + 8) / 64 + 1) * 64;
	for (size_t off = 0; off < total; off += 64) {
		for (int i = 0; i < 64; i++) {
			size_t k = off + i;
			unsigned char c = 0;
			if (k < len)
				c = msg[k];
			else if (k == len)
				c = 0x80;
			else if (k >= total - 8)
				c = (unsigned char)(bits >> (8 * (total - 1 - k)));
			block[i] = c;
		}
		uint32_t w[80];
		for (int i = 0; i < 16; i++)
			w[i] = (uint32_t)block[4 * i] << 24 | (uint32_t)block[4 * i + 1] << 16 | (uint32_t)block[4 * i + 2] << 8 |
			       block[4 * i + 3];
		for (int i = 16; i < 80; i++) {
			uint32_t x = w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16];
			w[i] = x << 1 | x >> 31;
		}
		uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
		for (int i = 0; i < 80; i++) {
			uint32_t f, k;
			if (i < 20)
				f = (b & c) | (~b & d), k = 0x5A827999;
			else if (i < 40)
				f = b ^ c ^ d, k = 0x6ED9EBA1;
			else if (i < 60)
				f = (b & c) | (b & d) | (c & d), k = 0x8F1BBCDC;
			else
				f = b ^ c ^ d, k = 0xCA62C1D6;
			uint32_t t = (a << 5 | a >> 27) + f + e + k + w[i];
			e = d, d = c, c = b << 30 | b >> 2, b = a, a = t;
		}
		h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e;
	}
	for (int i = 0; i < 5; i++)
		for (int j = 0; j < 4; j++)
			out[4 * i + j] = (unsigned char)(h[i] >> (24 - 8 * j));
}

/* ws_b64 writes the base64 of n bytes, padded, and a NUL: 4 * ((n + 2) / 3) + 1 bytes. */
static void ws_b64(const unsigned char *in, int n, char *out) {
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	int o = 0;
	for (int i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)(i + 1 < n ? in[i + 1] : 0) << 8 | (i + 2 < n ? in[i + 2] : 0);
		out[o++] = b64[v >> 18 & 63];
		out[o++] = b64[v >> 12 & 63];
		out[o++] = i + 1 < n ? b64[v >> 6 & 63] : '=';
		out[o++] = i + 2 < n ? b64[v & 63] : '=';
	}
	out[o] = 0;
}

/* ws_accept writes the Sec-WebSocket-Accept value (28 bytes + NUL) for key. */
static void ws_accept(const char *key, size_t klen, char out[29]) {
	static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
	unsigned char buf[128], d[20];
	if (klen > sizeof buf - sizeof guid)
		klen = sizeof buf - sizeof guid;
	memcpy(buf, key, klen);
	memcpy(buf + klen, guid, sizeof guid - 1);
	sha1(buf, klen + sizeof guid - 1, d);
	ws_b64(d, 20, out);
}

/* ws_read_head reads from fd (blocking) into buf (cap bytes, NUL-ended)
 * until it holds a blank line, and returns where that begins (NULL: the
 * peer closed, an error, or no blank line in cap - 1 bytes); *len is what
 * buf holds. */
static inline char *ws_read_head(int fd, char *buf, int cap, int *len) {
	char *end = NULL;
	*len = 0;
	while (!end) {
		ssize_t r = read(fd, buf + *len, cap - 1 - *len);
		if (r <= 0)
			return NULL;
		*len += r;
		buf[*len] = 0;
		end = strstr(buf, "\r\n\r\n");
	}
	return end;
}

/* ws_client_upgrade sends an upgrade request for /chat on the connected
 * socket s (its key derived from seed) and checks the 101 and its accept
 * key; the 101 must come alone. 0 on success. */
static inline int ws_client_upgrade(int s, const char *port, int seed) {
	char key[25], req[256], acc[29], buf[1024];
	unsigned char raw[16];
	for (int j = 0; j < 16; j++)
		raw[j] = (unsigned char)(seed * 31 + j * 7);
	ws_b64(raw, 16, key);
	int m = snprintf(req, sizeof req,
	                 "GET /chat HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nUpgrade: websocket\r\n"
	                 "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
	                 port, key);
	int len;
	char *end;
	if (write(s, req, m) != m || !(end = ws_read_head(s, buf, sizeof buf, &len)))
		return -1;
	ws_accept(key, strlen(key), acc);
	return strncmp(buf, "HTTP/1.1 101", 12) || !strcasestr(buf, acc) || end + 4 != buf + len ? -1 : 0;
}

/* ws_answer writes into resp (160 bytes) the 101 answering the upgrade
 * request req, whose header block ends at end, and returns its length; -1
 * when the request has no Sec-WebSocket-Key. Nothing else is checked. */
static inline int ws_answer(const char *req, const char *end, char resp[160]) {
	const char *key = strcasestr(req, "\r\nSec-WebSocket-Key:");
	if (!key || key > end)
		return -1;
	key += 20;
	while (*key == ' ')
		key++;
	const char *ke = key;
	while (*ke && *ke != '\r' && *ke != ' ')
		ke++;
	char acc[29];
	ws_accept(key, ke - key, acc);
	return snprintf(resp, 160,
	                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	                "Sec-WebSocket-Accept: %s\r\n\r\n",
	                acc);
}

/* ws_server_upgrade reads an upgrade request on fd (blocking) and answers
 * it (ws_answer). 0 on success. */
static inline int ws_server_upgrade(int fd) {
	char buf[4096], resp[160];
	int len;
	char *end = ws_read_head(fd, buf, sizeof buf, &len);
	if (!end)
		return -1;
	int m = ws_answer(buf, end, resp);
	return m > 0 && write(fd, resp, m) == m ? 0 : -1;
}
