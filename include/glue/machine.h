/* SPDX-License-Identifier: MIT */
/*
 * A whole x86 virtual machine assembled from the other modules: what the
 * glue binary runs, and the easiest way to embed a VM in a program.
 *
 * glue_machine_new() builds memory, loads the kernel, creates the devices and
 * vCPUs; glue_machine_run() runs one thread per vCPU and the event loop in the
 * calling thread until the guest resets, powers off, crashes, or someone calls
 * glue_machine_stop(). pause/resume/stop may be called from any thread (or
 * from a callback on the machine's event loop).
 *
 * vCPU threads are pulled out of KVM_RUN with GLUE_MACHINE_KICK_SIGNAL
 * (SIGRTMIN + 1); glue_machine_new() installs a no-op handler for it unless
 * the program already handles that signal.
 */
#ifndef GLUE_MACHINE_H
#define GLUE_MACHINE_H

#include <signal.h>
#include <string.h>

#include <glue/common.h>
#include <glue/loader.h> /* enum glue_boot_mode */

#define GLUE_MACHINE_KICK_SIGNAL (SIGRTMIN + 1)

GLUE_BEGIN_DECLS

struct glue_machine;
struct glue_loop;

/* Exit statuses of the glue binary, also returned by glue_machine_run(). */
enum glue_exit {
	GLUE_EXIT_OK = 0,           /* guest reset or powered off, or stopped on request */
	GLUE_EXIT_ERROR = 1,        /* the VMM failed (bad kernel, KVM error...) */
	GLUE_EXIT_USAGE = 2,        /* bad command-line arguments */
	GLUE_EXIT_GUEST_CRASH = 3,  /* triple fault, emulation failure, unhandled exit */
	GLUE_EXIT_GUEST_FAILED = 4, /* the guest reported failure on the debug-exit port */
	/* lifecycle commands (pause/resume/stop/list) */
	GLUE_EXIT_NO_SUCH_VM = 10,       /* no VM by that name */
	GLUE_EXIT_NOT_RESPONDING = 11,   /* the VM's process does not answer */
	GLUE_EXIT_PERMISSION = 12,       /* the VM belongs to someone else */
	GLUE_EXIT_RUNTIME_DIR = 13,      /* the socket directory is unusable */
	GLUE_EXIT_NAME_IN_USE = 14,      /* a live VM already has that name */
};

enum glue_machine_state {
	GLUE_MACHINE_CREATED = 0,
	GLUE_MACHINE_RUNNING,
	GLUE_MACHINE_PAUSED,
	GLUE_MACHINE_STOPPING,
	GLUE_MACHINE_STOPPED,
};

/* A virtio-blk disk (see <glue/virtio_blk.h>): opened, checked and locked
 * by glue_machine_new(), before KVM. */
struct glue_machine_disk {
	const char *path;
	bool readonly;
	const char *serial; /* up to 20 bytes, or NULL */
	bool cache_none;    /* O_DIRECT instead of the host's page cache */
	uint16_t queues;    /* request queues, 1-16 (0 = 1) */
};

/* Where a NIC's frames go (see <glue/net.h>). */
enum glue_machine_net {
	GLUE_MACHINE_NET_USER = 1, /* user-mode networking, libslirp: no root needed */
	GLUE_MACHINE_NET_TAP,	   /* a Linux tap device */
};

/* A virtio-net NIC: its backend made by glue_machine_new(), before KVM. */
struct glue_machine_nic {
	enum glue_machine_net backend;
	const char *tap;	    /* TAP: an existing tap's name; NULL or "": a new one */
	bool restricted;	    /* USER: nothing leaves; forwarded ports still work */
	const char *const *hostfwd; /* USER: "tcp:[HOSTADDR]:PORT-[GUESTADDR]:PORT" rules */
	uint32_t nhostfwd;
	bool mac_set;		    /* mac given; else derived from the config's name */
	uint8_t mac[6];
	int vhost; /* TAP: vhost-net where it opens (0, default), required (1), never (-1) */
};

/* What a NIC is, as glue_machine_nic_info() reports it (and glue list shows). */
#define GLUE_MACHINE_MAX_NICS 8
#define GLUE_MACHINE_MAX_HOSTFWD 16
struct glue_machine_nic_info {
	char backend[8];  /* "user", "tap" */
	char ifname[16];  /* tap: the host's interface; "" otherwise */
	char mac[18];	  /* "02:00:00:00:00:01" */
	bool vhost;	  /* frames go through the kernel's vhost-net (now) */
	bool restricted;  /* user: restrict=on */
	uint32_t nhostfwd;
	char hostfwd[GLUE_MACHINE_MAX_HOSTFWD][48]; /* "tcp:127.0.0.1:8080-10.0.2.15:80" */
};

enum glue_machine_transport {
	GLUE_TRANSPORT_DEFAULT = 0, /* PCI where the build has it, else virtio-mmio */
	GLUE_TRANSPORT_MMIO,
	GLUE_TRANSPORT_PCI,
};

struct glue_machine_config {
	uint32_t size;        /* sizeof(struct glue_machine_config): lets the struct grow */
	uint64_t mem_bytes;   /* RAM; a multiple of 1 MiB */
	uint32_t cpus;
	const char *kernel;   /* path, required */
	const char *initrd;   /* path or NULL */
	const char *cmdline;  /* passed verbatim; NULL = "" */
	const char *cpu;      /* CPU model: "host[,+feat][,-feat]..."; NULL = "host" */
	enum glue_boot_mode boot;
	int console_in;       /* fd the serial console reads, or -1 */
	int console_out;      /* fd the serial console writes, or -1 */
	int console_escape;   /* escape key on console_in: escape then 'x' quits, escape
			       * twice sends it once; 0 = none (glue uses 0x01, Ctrl-a) */
	bool debug_exit;      /* add the debug-exit port (GLUE_DEBUG_EXIT_PORT) */
	int verbose;          /* > 0: describe what was done on log_fd */
	int log_fd;           /* where verbose output and crash reports go (-1: stderr) */
	/* Added in 0.2. Virtio devices go on the build's transport (virtio-mmio). */
	bool rng;             /* a virtio-rng device (default false) */
	uint64_t rng_bytes_per_sec; /* its rate limit; 0 = none */
	const struct glue_machine_disk *disks; /* virtio-blk disks, in this order */
	uint32_t ndisks;
	enum glue_machine_transport transport; /* for virtio devices */
	/* Added in 0.3. */
	const struct glue_machine_nic *nics; /* virtio-net NICs, in this order */
	uint32_t nnics;
	const char *name; /* the VM's name: stable defaults (NIC MACs); NULL = "glue" */
};

/*
 * Defaults: 512 MiB, 1 CPU, console on no fd, AUTO boot. Inline on purpose: it runs with the caller's sizeof, so a
 * program built against an older, smaller struct never has a newer
 * library write past it; the library reads only cfg->size bytes.
 */
static inline void glue_machine_config_init(struct glue_machine_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->size = sizeof(*cfg);
	cfg->mem_bytes = 512ULL << 20;
	cfg->cpus = 1;
	cfg->boot = GLUE_BOOT_AUTO;
	cfg->console_in = -1;
	cfg->console_out = -1;
	cfg->log_fd = -1;
}

GLUE_API int glue_machine_new(struct glue_machine **out, const struct glue_machine_config *cfg);
/* Free the machine. Call it after glue_machine_run() has returned (or when
 * it was never called), never while run() is in progress in another
 * thread: stop the machine and let run() return first. */
GLUE_API void glue_machine_free(struct glue_machine *m);

/* The machine's event loop: add fds to it (a control socket, say) before or
 * during glue_machine_run(). */
GLUE_API struct glue_loop *glue_machine_loop(struct glue_machine *m);

/*
 * Run until the VM ends. Returns an enum glue_exit value (>= 0) describing
 * how it ended, or a negative errno if it could not start.
 */
GLUE_API int glue_machine_run(struct glue_machine *m);

/* Park every vCPU and stop device processing; returns once all are parked.
 * Idempotent. */
GLUE_API int glue_machine_pause(struct glue_machine *m);
GLUE_API int glue_machine_resume(struct glue_machine *m);
/*
 * End the VM. Without force, ask the guest to shut down and return: the
 * ACPI power button first, Ctrl-Alt-Del on the i8042 when the guest does not
 * take the button within a second (no ACPI) or the build has no ACPI; a
 * paused VM is resumed first so it can hear it. The VM ends when the guest
 * powers off or resets. With force, stop the vCPUs now.
 * glue_machine_run() then returns GLUE_EXIT_OK. A machine with neither
 * device, or one not running yet, is always stopped as with force. Returns
 * 0, or -EAGAIN when the i8042's keyboard buffer is full (try again later).
 */
GLUE_API int glue_machine_stop(struct glue_machine *m, bool force);

GLUE_API enum glue_machine_state glue_machine_state(const struct glue_machine *m);
/* NIC index (0..): 0, or -ENOENT past the last one. */
GLUE_API int glue_machine_nic_info(const struct glue_machine *m, uint32_t index,
				   struct glue_machine_nic_info *out);
/* "running", "paused"... */
GLUE_API const char *glue_machine_state_name(enum glue_machine_state state);

GLUE_END_DECLS

#endif
