// SPDX-License-Identifier: MIT
/*
 * qdio: random 4 KiB O_DIRECT reads or writes at a queue depth, through
 * Linux's native AIO (io_submit), for bench/block.py. Built static, so it
 * runs from the busybox initramfs (Debian's fio needs ceph, gluster and
 * RDMA libraries there); the same binary measures the raw image on the host.
 *
 *   qdio FILE read|write DEPTH COUNT [NAME]
 *
 * Keeps DEPTH requests in flight until COUNT have completed, at offsets
 * spread over the whole file (a fixed sequence, the same on every run), and
 * prints "BENCH NAME BYTES CENTISECONDS" (NAME: rand-read-qdDEPTH...), as
 * bench/guestbench.py reads it. Exit 1 on an error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/aio_abi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define BS 4096
#define MAX_DEPTH 256

static long sys_io_setup(unsigned n, aio_context_t *ctx)
{
	return syscall(SYS_io_setup, n, ctx);
}

static long sys_io_submit(aio_context_t ctx, long n, struct iocb **cbs)
{
	return syscall(SYS_io_submit, ctx, n, cbs);
}

static long sys_io_getevents(aio_context_t ctx, long min, long max, struct io_event *ev)
{
	return syscall(SYS_io_getevents, ctx, min, max, ev, NULL);
}

int main(int argc, char **argv)
{
	static struct iocb cb[MAX_DEPTH];
	static struct io_event ev[MAX_DEPTH];
	struct iocb *p[MAX_DEPTH];
	long free_slot[MAX_DEPTH], nfree;
	aio_context_t ctx = 0;
	struct timespec t0, t1;
	long depth, count, submitted = 0, done = 0;
	uint64_t blocks, x = 0x9e3779b97f4a7c15ULL;
	char name[64];
	uint8_t *buf;
	int fd, write;
	off_t size;

	if (argc < 5 || (strcmp(argv[2], "read") && strcmp(argv[2], "write"))) {
		fprintf(stderr, "usage: qdio FILE read|write DEPTH COUNT [NAME]\n");
		return 2;
	}
	write = !strcmp(argv[2], "write");
	depth = atol(argv[3]);
	count = atol(argv[4]);
	if (depth < 1 || depth > MAX_DEPTH || count < depth) {
		fprintf(stderr, "qdio: DEPTH 1-%d, COUNT at least DEPTH\n", MAX_DEPTH);
		return 2;
	}
	snprintf(name, sizeof(name), "%s", argc > 5 ? argv[5] : "");
	if (!name[0])
		snprintf(name, sizeof(name), "rand-%s-qd%ld", argv[2], depth);
	fd = open(argv[1], (write ? O_RDWR : O_RDONLY) | O_DIRECT);
	if (fd < 0 && errno == EINVAL) /* tmpfs: no O_DIRECT, page cache speed */
		fd = open(argv[1], write ? O_RDWR : O_RDONLY);
	if (fd < 0) {
		perror(argv[1]);
		return 1;
	}
	size = lseek(fd, 0, SEEK_END);
	blocks = (uint64_t)size / BS;
	if (blocks == 0 || posix_memalign((void **)&buf, BS, (size_t)depth * BS)) {
		fprintf(stderr, "qdio: %s is empty, or no memory\n", argv[1]);
		return 1;
	}
	memset(buf, 0xa5, (size_t)depth * BS);
	if (sys_io_setup((unsigned)depth, &ctx) < 0) {
		perror("io_setup");
		return 1;
	}
	for (nfree = 0; nfree < depth; nfree++)
		free_slot[nfree] = nfree;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (done < count) {
		long n = 0, got;

		/* a request for every free slot (each slot has its buffer) */
		while (nfree && submitted < count) {
			long slot = free_slot[--nfree];
			struct iocb *c = &cb[slot];

			x ^= x >> 12, x ^= x << 25, x ^= x >> 27; /* xorshift64 */
			memset(c, 0, sizeof(*c));
			c->aio_fildes = (uint32_t)fd;
			c->aio_lio_opcode = write ? IOCB_CMD_PWRITE : IOCB_CMD_PREAD;
			c->aio_buf = (uint64_t)(uintptr_t)(buf + slot * BS);
			c->aio_nbytes = BS;
			c->aio_offset = (int64_t)((x * 0x2545f4914f6cdd1dULL) % blocks * BS);
			c->aio_data = (uint64_t)slot;
			p[n++] = c;
			submitted++;
		}
		if (n && sys_io_submit(ctx, n, p) != n) {
			perror("io_submit");
			return 1;
		}
		got = sys_io_getevents(ctx, 1, depth, ev);
		if (got < 0) {
			perror("io_getevents");
			return 1;
		}
		for (long i = 0; i < got; i++) {
			if (ev[i].res != BS) {
				fprintf(stderr, "qdio: request failed: %lld\n", (long long)ev[i].res);
				return 1;
			}
			free_slot[nfree++] = (long)ev[i].data;
		}
		done += got;
	}
	if (write && fdatasync(fd) < 0) {
		perror("fdatasync");
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("BENCH %s %lld %lld\n", name, (long long)count * BS,
	       (long long)((t1.tv_sec - t0.tv_sec) * 100 + (t1.tv_nsec - t0.tv_nsec) / 10000000));
	return 0;
}
