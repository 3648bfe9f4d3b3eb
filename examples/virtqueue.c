// SPDX-License-Identifier: MIT
/*
 * A virtqueue without a VM: guest memory, a split queue, and the mock
 * playing the guest's driver. The "device" answers each request with the
 * request in capitals, the way a real device reads what the driver wrote
 * and writes its answer into the driver's buffers.
 *
 *   driver (mock)                device (this file)
 *   add [request | reply] ->     pop, read request, write reply, push
 *   take_used             <-     should_notify? then "interrupt"
 *
 * Build: see examples/meson.build. Needs no /dev/kvm.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <glue/error.h>
#include <glue/memory.h>
#include <glue/virtq.h>
#include <glue/virtq_mock.h>

#define QUEUE_GPA 0x10000
#define REQ_GPA 0x20000
#define REPLY_GPA 0x21000

/* The device: one pass over the queue, as its worker thread would do on a kick. */
static int device_run(struct glue_virtq *q)
{
	struct glue_virtq_chain *c;
	int r, interrupts = 0;

	do {
		glue_virtq_kicks_off(q);
		while ((r = glue_virtq_pop(q, &c)) != 0) {
			char buf[256];
			size_t n;

			if (r == -EBADMSG) { /* the driver's mistake: given back already */
				fprintf(stderr, "device: %s\n", glue_error_last());
				continue;
			}
			if (r < 0)
				break; /* broken (or no memory): what was pushed still counts */
			n = glue_virtq_chain_read(c, 0, buf, sizeof(buf));
			for (size_t i = 0; i < n; i++)
				buf[i] = (char)toupper((unsigned char)buf[i]);
			glue_virtq_push(q, c, (uint32_t)glue_virtq_chain_write(c, 0, buf, n));
		}
		if (glue_virtq_should_notify(q))
			interrupts++; /* a real device raises its interrupt here */
		if (r < 0)
			return r; /* a broken queue: the transport would ask for a reset */
	} while (glue_virtq_kicks_on(q));
	return interrupts;
}

int main(void)
{
	const char *requests[] = {"hello from the driver", "virtqueues are rings in guest memory"};
	struct glue_mem *mem = NULL;
	struct glue_virtq *q = NULL;
	struct glue_virtq_mock *drv = NULL;
	struct glue_virtq_layout layout;
	int r;

	r = glue_mem_new_x86(&mem, 16 << 20);
	if (!r)
		r = glue_virtq_new(&q, mem, 256);
	/* The driver lays the queue out and tells the device where (a transport's job). */
	if (!r)
		r = glue_virtq_mock_new(&drv, mem, QUEUE_GPA, 64);
	if (!r) {
		glue_virtq_mock_layout(drv, &layout);
		r = glue_virtq_enable(q, &layout, GLUE_VIRTQ_F_EVENT_IDX);
	}
	for (size_t i = 0; !r && i < sizeof(requests) / sizeof(requests[0]); i++) {
		struct glue_virtq_mock_buf bufs[] = {
			{REQ_GPA, (uint32_t)strlen(requests[i]), false}, /* device reads */
			{REPLY_GPA, 256, true},				 /* device writes */
		};
		char reply[257] = "";
		uint16_t id;
		uint32_t len;

		r = glue_mem_write(mem, REQ_GPA, requests[i], strlen(requests[i]));
		if (!r)
			r = glue_virtq_mock_add(drv, bufs, 2, NULL);
		if (!r)
			r = device_run(q);
		if (r >= 0) {
			printf("device raised %d interrupt(s)\n", r);
			r = glue_virtq_mock_take_used(drv, &id, &len) == 1 ? 0 : -1;
		}
		/* EVENT_IDX: "interrupt me once you have used one more" */
		if (!r)
			r = glue_virtq_mock_set_used_event(drv, (uint16_t)(i + 1));
		if (!r)
			r = glue_mem_read(mem, REPLY_GPA, reply, len);
		if (!r)
			printf("driver got %u bytes: %s\n", len, reply);
	}
	if (r)
		fprintf(stderr, "virtqueue example: %s\n", glue_error_last());
	glue_virtq_mock_free(drv);
	glue_virtq_free(q);
	glue_mem_free(mem);
	return r ? 1 : 0;
}
