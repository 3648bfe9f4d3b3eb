/* SPDX-License-Identifier: MIT */
/*
 * virtio-rng (virtio 1.x, section 5.4): one queue of device-writable
 * buffers that the device fills with entropy from the host's getrandom(2),
 * on its own thread, optionally at a limited rate.
 *
 * A device on the contract of <glue/virtio.h>: put it on a transport with
 * glue_virtio_mmio_new() (or any other).
 */
#ifndef GLUE_VIRTIO_RNG_H
#define GLUE_VIRTIO_RNG_H

#include <string.h>

#include <glue/common.h>
#include <glue/virtio.h>

GLUE_BEGIN_DECLS

/* Most bytes one request gets: a driver asks again for more. */
#define GLUE_VIRTIO_RNG_MAX_REQUEST 65536

struct glue_virtio_rng_config {
	uint32_t size;		/* sizeof(struct glue_virtio_rng_config), set by _init */
	uint64_t bytes_per_sec; /* rate limit; 0 = none (the default) */
	uint16_t queue_size;	/* power of two; default 256 */
};

static inline void glue_virtio_rng_config_init(struct glue_virtio_rng_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->size = sizeof(*cfg);
	cfg->queue_size = 256;
}

/* Fill *out with a new virtio-rng device (cfg NULL: defaults). Starts its thread. */
GLUE_API int glue_virtio_rng_new(struct glue_virtio_device *out,
				 const struct glue_virtio_rng_config *cfg);

GLUE_END_DECLS

#endif
