/* SPDX-License-Identifier: MIT */
/*
 * User-mode networking (libslirp): a NAT'd network of the VMM's own, no root
 * and no host configuration. The guest sees a gateway with DHCP and DNS;
 * its connections become ordinary sockets of this process; ports of the
 * host can be forwarded to the guest.
 *
 *   network   10.0.2.0/24 (the default, as in QEMU)
 *   gateway   10.0.2.2: the host itself (its 127.0.0.1 is reached there)
 *   DNS       10.0.2.3: forwards to the host's resolver
 *   guest     10.0.2.15 from DHCP
 *
 * Restricted mode cuts the guest off: nothing it sends leaves (the host
 * included), but DHCP, DNS to the gateway and forwarded ports still work.
 *
 * libslirp is not thread-safe: it runs in a thread of the backend, which
 * talks to the NIC through a socketpair (the backend's fd).
 */
#ifndef GLUE_NET_USER_H
#define GLUE_NET_USER_H

#include <netinet/in.h>
#include <string.h>

#include <glue/common.h>
#include <glue/net.h>

GLUE_BEGIN_DECLS

#define GLUE_NET_USER_MAX_FWD 16

/* A host port forwarded to the guest. */
struct glue_net_hostfwd {
	bool udp;
	struct in_addr host_addr; /* where the host listens; INADDR_ANY by default */
	uint16_t host_port;
	struct in_addr guest_addr; /* 0: the DHCP address */
	uint16_t guest_port;
};

struct glue_net_user_config {
	uint32_t size; /* sizeof(struct glue_net_user_config), set by _init */
	bool restricted;
	struct in_addr network, netmask, host, dns, dhcp_start;
	const char *hostname; /* DHCP hostname option; NULL = none */
	unsigned int nfwd;
	struct glue_net_hostfwd fwd[GLUE_NET_USER_MAX_FWD];
};

static inline void glue_net_user_config_init(struct glue_net_user_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->size = sizeof(*cfg);
	cfg->network.s_addr = htonl(0x0a000200); /* 10.0.2.0 */
	cfg->netmask.s_addr = htonl(0xffffff00);
	cfg->host.s_addr = htonl(0x0a000202);
	cfg->dns.s_addr = htonl(0x0a000203);
	cfg->dhcp_start.s_addr = htonl(0x0a00020f);
}

/*
 * Parse a forwarding rule as QEMU writes it: "tcp:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT"
 * or "udp:...", e.g. "tcp::8080-:80", "tcp:127.0.0.1:2222-:22". -EINVAL with a message
 * naming what is wrong.
 */
GLUE_API int glue_net_hostfwd_parse(struct glue_net_hostfwd *out, const char *spec);

/*
 * The backend, its thread started, its forwarded ports listening (so a busy
 * port fails here: -EADDRINUSE naming it). -EINVAL for a bad config.
 */
GLUE_API int glue_net_user_new(struct glue_net_backend *out,
			       const struct glue_net_user_config *cfg);

GLUE_END_DECLS

#endif
