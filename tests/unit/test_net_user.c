// SPDX-License-Identifier: MIT
/*
 * The user-mode network backend (libslirp) without a guest: forwarding
 * rules as a user writes them, a busy host port refused at creation, and
 * frames through its thread (the gateway answers ARP and hands out a DHCP
 * lease, as a guest's network stack would see).
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glue/error.h>
#include <glue/net.h>
#include <glue/net_user.h>

static const uint8_t GUEST_MAC[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};

Test(net_user, hostfwd_rules_parse)
{
	struct glue_net_hostfwd f;

	cr_assert_eq(glue_net_hostfwd_parse(&f, "tcp::8080-:80"), 0, "%s", glue_error_last());
	cr_assert_not(f.udp);
	cr_assert_eq(f.host_addr.s_addr, INADDR_ANY);
	cr_assert_eq(f.host_port, 8080);
	cr_assert_eq(f.guest_addr.s_addr, 0);
	cr_assert_eq(f.guest_port, 80);

	cr_assert_eq(glue_net_hostfwd_parse(&f, "udp:127.0.0.1:5353-10.0.2.20:53"), 0);
	cr_assert(f.udp);
	cr_assert_eq(f.host_addr.s_addr, htonl(INADDR_LOOPBACK));
	cr_assert_eq(f.host_port, 5353);
	cr_assert_eq(f.guest_addr.s_addr, inet_addr("10.0.2.20"));
	cr_assert_eq(f.guest_port, 53);
}

Test(net_user, bad_hostfwd_rules_say_what_is_wrong)
{
	static const struct {
		const char *spec, *says;
	} bad[] = {
		{"sctp::1-:2", "tcp: or udp:"},
		{"tcp::8080", "'-' missing"},
		{"tcp:8080-:80", "[ADDR]:PORT"},
		{"tcp::0-:80", "not 1-65535"},
		{"tcp::70000-:80", "not 1-65535"},
		{"tcp::80-:", "1-65535"},
		{"tcp::8x-:80", "not a port"},
		{"tcp:1.2.3:80-:80", "not an IPv4 address"},
		{"tcp:localhost:80-:80", "not an IPv4 address"},
		{"", "tcp: or udp:"},
	};
	struct glue_net_hostfwd f;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(glue_net_hostfwd_parse(&f, bad[i].spec), -EINVAL, "'%s'", bad[i].spec);
		cr_assert(strstr(glue_error_last(), bad[i].says), "'%s': %s", bad[i].spec,
			  glue_error_last());
	}
}

/* A TCP listener on 127.0.0.1 at a port the kernel picks. */
static int listener(uint16_t *port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(s, 0);
	cr_assert_eq(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(s, 1), 0);
	cr_assert_eq(getsockname(s, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	return s;
}

Test(net_user, a_busy_host_port_fails_at_creation)
{
	struct glue_net_user_config c;
	struct glue_net_backend be;
	uint16_t port;
	int s = listener(&port);
	char rule[64];

	glue_net_user_config_init(&c);
	snprintf(rule, sizeof(rule), "tcp:127.0.0.1:%u-:80", port);
	cr_assert_eq(glue_net_hostfwd_parse(&c.fwd[0], rule), 0);
	c.nfwd = 1;
	cr_assert_eq(glue_net_user_new(&be, &c), -EADDRINUSE);
	cr_assert(strstr(glue_error_last(), "in use"), "%s", glue_error_last());
	cr_assert_null(be.ops);
	close(s);

	/* the port free again: the same rule works, and the port is taken */
	cr_assert_eq(glue_net_user_new(&be, &c), 0, "%s", glue_error_last());
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons(port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_neq(bind(s, (struct sockaddr *)&a, sizeof(a)), 0, "slirp listens there");
	close(s);
	glue_net_backend_free(&be);
	cr_assert_null(be.ops);
}

Test(net_user, bad_networks_are_refused)
{
	struct glue_net_user_config c;
	struct glue_net_backend be;

	glue_net_user_config_init(&c);
	c.netmask.s_addr = inet_addr("255.0.255.0");
	cr_assert_eq(glue_net_user_new(&be, &c), -EINVAL);
	cr_assert(strstr(glue_error_last(), "netmask"), "%s", glue_error_last());
	glue_net_user_config_init(&c);
	c.host.s_addr = inet_addr("192.168.1.1");
	cr_assert_eq(glue_net_user_new(&be, &c), -EINVAL);
	cr_assert(strstr(glue_error_last(), "gateway"), "%s", glue_error_last());
}

/* The next frame from the backend within a second, or -1. */
static ssize_t next_frame(struct glue_net_backend *be, uint8_t *buf, size_t len)
{
	for (int i = 0; i < 100; i++) {
		struct pollfd p = {.fd = be->fd, .events = POLLIN};
		ssize_t n;

		poll(&p, 1, 10);
		n = be->ops->recv(be->ctx, buf, len);
		if (n != -EAGAIN)
			return n;
	}
	return -1;
}

Test(net_user, the_gateway_answers_arp)
{
	struct glue_net_backend be;
	uint8_t f[42] = {0}, got[2048];
	struct iovec iov = {f, sizeof(f)};
	ssize_t n;

	cr_assert_eq(glue_net_user_new(&be, NULL), 0, "%s", glue_error_last());
	cr_assert_str_eq(be.name, "user");
	cr_assert_not(be.vnet_hdr);
	/* who-has 10.0.2.2 tell 10.0.2.15 */
	memset(f, 0xff, 6);
	memcpy(f + 6, GUEST_MAC, 6);
	f[12] = 0x08, f[13] = 0x06;		    /* ARP */
	f[14] = 0, f[15] = 1, f[16] = 8, f[17] = 0; /* Ethernet, IPv4 */
	f[18] = 6, f[19] = 4, f[20] = 0, f[21] = 1; /* request */
	memcpy(f + 22, GUEST_MAC, 6);
	memcpy(f + 28, (uint8_t[]){10, 0, 2, 15}, 4);
	memcpy(f + 38, (uint8_t[]){10, 0, 2, 2}, 4);
	cr_assert_eq(be.ops->send(be.ctx, &iov, 1), 0);
	n = next_frame(&be, got, sizeof(got));
	cr_assert_geq(n, 42, "an ARP reply");
	cr_assert_arr_eq(got, GUEST_MAC, 6, "to the guest");
	cr_assert_eq(got[12], 0x08);
	cr_assert_eq(got[13], 0x06);
	cr_assert_eq(got[21], 2, "a reply");
	cr_assert_arr_eq(got + 28, ((uint8_t[]){10, 0, 2, 2}), 4, "for the gateway");
	glue_net_backend_free(&be);
}

static uint16_t ip_csum(const uint8_t *p, size_t len)
{
	uint32_t s = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

Test(net_user, dhcp_offers_the_first_address)
{
	struct glue_net_backend be;
	uint8_t f[14 + 20 + 8 + 300] = {0}, got[2048];
	struct iovec iov = {f, sizeof(f)};
	uint8_t *ip = f + 14, *udp = ip + 20, *bootp = udp + 8;
	ssize_t n;

	cr_assert_eq(glue_net_user_new(&be, NULL), 0, "%s", glue_error_last());
	memset(f, 0xff, 6);
	memcpy(f + 6, GUEST_MAC, 6);
	f[12] = 0x08;
	ip[0] = 0x45;
	ip[2] = (20 + 8 + 300) >> 8, ip[3] = (20 + 8 + 300) & 0xff;
	ip[8] = 64, ip[9] = 17; /* UDP */
	memset(ip + 16, 0xff, 4);
	uint16_t c = ip_csum(ip, 20);

	ip[10] = (uint8_t)(c >> 8), ip[11] = (uint8_t)c;
	udp[1] = 68, udp[3] = 67;
	udp[4] = (8 + 300) >> 8, udp[5] = (8 + 300) & 0xff;
	bootp[0] = 1, bootp[1] = 1, bootp[2] = 6;
	memcpy(bootp + 4, "\x12\x34\x56\x78", 4);
	memcpy(bootp + 28, GUEST_MAC, 6);
	memcpy(bootp + 236, "\x63\x82\x53\x63", 4); /* magic cookie */
	memcpy(bootp + 240, "\x35\x01\x01\xff", 4); /* DHCPDISCOVER, end */
	cr_assert_eq(be.ops->send(be.ctx, &iov, 1), 0);
	/* slirp may ask for the guest's MAC first: skip ARP */
	for (;;) {
		n = next_frame(&be, got, sizeof(got));
		cr_assert_gt(n, 0, "a DHCP offer");
		if (got[12] == 0x08 && got[13] == 0x00)
			break;
	}
	cr_assert_geq(n, 14 + 20 + 8 + 240);
	uint8_t *rb = got + 14 + 20 + 8;

	cr_assert_eq(got[14 + 9], 17, "UDP");
	cr_assert_eq(rb[0], 2, "a BOOTREPLY");
	cr_assert_arr_eq(rb + 4, "\x12\x34\x56\x78", 4, "to our transaction");
	cr_assert_arr_eq(rb + 16, ((uint8_t[]){10, 0, 2, 15}), 4, "10.0.2.15 offered");
	glue_net_backend_free(&be);
}
