// SPDX-License-Identifier: MIT
/*
 * splitrx guest receiver: runs inside the Linux guest (static, no libraries beyond libc).
 *
 * Reads every frame eth0 receives on an AF_PACKET socket and prints, on the control tty,
 * one line per frame: "F <seq> <length> <fnv1a-64 hex> <csum>". The kernel moves an 802.1Q
 * tag out of the frame before packet sockets see it; the receiver puts it back (from
 * PACKET_AUXDATA) so the line describes the frame as it was on the wire. <csum> is 1 when
 * the kernel holds the frame's checksum as already verified (TP_STATUS_CSUM_VALID: the
 * driver set CHECKSUM_UNNECESSARY, which virtio_net does for a net header with
 * VIRTIO_NET_HDR_F_DATA_VALID), else 0. Frames the guest sends itself (PACKET_OUTGOING) are
 * not printed.
 *
 * It also binds UDP sockets (IPv4 and IPv6) on the given ports and reads every datagram:
 * the kernel counts Udp InDatagrams only for datagrams an application read, and verifies
 * the UDP checksum on that path (InCsumErrors). Each datagram read is one line
 * "U <port> <4|6> <length> <fnv1a-64 hex of the payload>".
 *
 * The control tty (raw mode) also takes commands, one per line:
 *   stats  -> "S key=value ..." with the guest kernel's counters (eth0's statistics,
 *             /proc/net/snmp and snmp6, the interrupts of the virtio device)
 *   quit   -> the stats line, then exit 0
 * "R ready" is printed once every socket is bound (and the file given with -r created).
 *
 * Usage: rx -i IFACE -t TTY [-u PORT]... [-r READY_FILE]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/if_packet.h>
#include <linux/sockios.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#define MAX_PORTS 8
#define MAX_FRAME 65536
#define SOCK_BUF (16 << 20)

static int tty = -1;
static uint64_t frames, udp_read, pkt_drops;

static void die(const char *what) {
	char line[256];
	int n = snprintf(line, sizeof line, "E %s: %s\n", what, strerror(errno));
	if (tty >= 0)
		(void)!write(tty, line, (size_t)n);
	fputs(line, stderr);
	exit(1);
}

/* One line, one write(): lines never interleave. */
static void say(const char *fmt, ...) {
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof line)
		n = sizeof line - 1;
	const char *p = line;
	while (n > 0) {
		ssize_t w = write(tty, p, (size_t)n);
		if (w < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			exit(2);
		}
		p += w;
		n -= (int)w;
	}
}

static uint64_t fnv1a64(const uint8_t *p, size_t n) {
	uint64_t h = 0xcbf29ce484222325ULL;
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static unsigned long long read_sysfs(const char *iface, const char *name) {
	char path[128];
	snprintf(path, sizeof path, "/sys/class/net/%s/statistics/%s", iface, name);
	FILE *f = fopen(path, "r");
	unsigned long long v = 0;
	if (f) {
		if (fscanf(f, "%llu", &v) != 1)
			v = 0;
		fclose(f);
	}
	return v;
}

/* Field `field` of protocol `proto` in /proc/net/snmp (a header line, then a value line). */
static long long snmp(const char *proto, const char *field) {
	FILE *f = fopen("/proc/net/snmp", "r");
	if (!f)
		return -1;
	char head[1024], vals[1024];
	long long out = -1;
	size_t plen = strlen(proto);
	while (fgets(head, sizeof head, f)) {
		if (strncmp(head, proto, plen) || head[plen] != ':')
			continue;
		if (!fgets(vals, sizeof vals, f))
			break;
		char *hs, *vs;
		char *h = strtok_r(head + plen + 1, " \n", &hs);
		char *v = strtok_r(vals + plen + 1, " \n", &vs);
		while (h && v) {
			if (!strcmp(h, field)) {
				out = strtoll(v, NULL, 10);
				break;
			}
			h = strtok_r(NULL, " \n", &hs);
			v = strtok_r(NULL, " \n", &vs);
		}
		break;
	}
	fclose(f);
	return out;
}

/* Field `field` of /proc/net/snmp6 (one "name value" pair a line). */
static long long snmp6(const char *field) {
	FILE *f = fopen("/proc/net/snmp6", "r");
	if (!f)
		return -1;
	char name[128];
	long long v, out = -1;
	while (fscanf(f, "%127s %lld", name, &v) == 2) {
		if (!strcmp(name, field)) {
			out = v;
			break;
		}
	}
	fclose(f);
	return out;
}

/* Interrupts the guest took for its virtio devices: every CPU's count on each line of
 * /proc/interrupts that names a virtio device (with vectors=0, one INTx line). */
static long long virtio_irqs(void) {
	FILE *f = fopen("/proc/interrupts", "r");
	if (!f)
		return -1;
	char line[1024];
	long long total = 0;
	while (fgets(line, sizeof line, f)) {
		if (!strstr(line, "virtio"))
			continue;
		char *p = strchr(line, ':');
		if (!p)
			continue;
		p++;
		for (;;) {
			char *end;
			long long n = strtoll(p, &end, 10);
			if (end == p)
				break;
			total += n;
			p = end;
		}
	}
	fclose(f);
	return total;
}

static void stats(const char *iface, int psock) {
	struct tpacket_stats st;
	socklen_t len = sizeof st;
	if (getsockopt(psock, SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0) {
		pkt_drops += st.tp_drops; /* the kernel resets it on each read */
	}
	say("S rx_packets=%llu rx_bytes=%llu rx_dropped=%llu rx_errors=%llu tx_packets=%llu "
	    "udp_in_datagrams=%lld udp_in_csum_errors=%lld udp_rcvbuf_errors=%lld "
	    "udp_no_ports=%lld tcp_in_csum_errors=%lld udp6_in_datagrams=%lld "
	    "udp6_in_csum_errors=%lld virtio_irqs=%lld frames=%llu udp_read=%llu "
	    "packet_socket_drops=%llu\n",
	    read_sysfs(iface, "rx_packets"), read_sysfs(iface, "rx_bytes"),
	    read_sysfs(iface, "rx_dropped"), read_sysfs(iface, "rx_errors"),
	    read_sysfs(iface, "tx_packets"), snmp("Udp", "InDatagrams"),
	    snmp("Udp", "InCsumErrors"), snmp("Udp", "RcvbufErrors"), snmp("Udp", "NoPorts"),
	    snmp("Tcp", "InCsumErrors"), snmp6("Udp6InDatagrams"), snmp6("Udp6InCsumErrors"),
	    virtio_irqs(), (unsigned long long)frames,
	    (unsigned long long)udp_read, (unsigned long long)pkt_drops);
}

static void big_buffer(int fd) {
	int size = SOCK_BUF;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) < 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size) < 0)
		die("SO_RCVBUF");
}

/* GRO off (as `ethtool -K IFACE gro off` would): frames go up in the order they arrived. */
static void gro_off(int fd, const char *iface) {
	struct ethtool_value ev = {.cmd = ETHTOOL_SGRO, .data = 0};
	struct ifreq ifr;
	memset(&ifr, 0, sizeof ifr);
	strncpy(ifr.ifr_name, iface, IFNAMSIZ - 1);
	ifr.ifr_data = (char *)&ev;
	if (ioctl(fd, SIOCETHTOOL, &ifr) < 0)
		die("ETHTOOL_SGRO");
	ev.cmd = ETHTOOL_GGRO;
	if (ioctl(fd, SIOCETHTOOL, &ifr) < 0 || ev.data) {
		errno = EINVAL;
		die("GRO still on");
	}
}

static int udp_socket(int family, int port) {
	int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	if (fd < 0)
		die("udp socket");
	big_buffer(fd);
	int one = 1;
	if (family == AF_INET6) {
		if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0)
			die("IPV6_V6ONLY");
		struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
		a.sin6_addr = in6addr_any;
		if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0)
			die("bind udp6");
	} else {
		struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
		a.sin_addr.s_addr = htonl(INADDR_ANY);
		if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0)
			die("bind udp");
	}
	return fd;
}

static void read_frames(int psock) {
	static uint8_t buf[MAX_FRAME + 4];
	for (;;) {
		struct sockaddr_ll from;
		union {
			struct cmsghdr align;
			char space[CMSG_SPACE(sizeof(struct tpacket_auxdata))];
		} ctl;
		/* 4 bytes of room at the front: an 802.1Q tag may have to go back in */
		struct iovec iov = {.iov_base = buf + 4, .iov_len = MAX_FRAME};
		struct msghdr m = {.msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &iov,
				   .msg_iovlen = 1, .msg_control = &ctl, .msg_controllen = sizeof ctl};
		ssize_t n = recvmsg(psock, &m, MSG_TRUNC | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			die("recvmsg packet");
		}
		if (from.sll_pkttype == PACKET_OUTGOING)
			continue;
		size_t len = (size_t)n > MAX_FRAME ? MAX_FRAME : (size_t)n;
		size_t wire_len = (size_t)n;
		uint8_t *frame = buf + 4;
		int csum_valid = 0;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
			if (c->cmsg_level != SOL_PACKET || c->cmsg_type != PACKET_AUXDATA)
				continue;
			struct tpacket_auxdata aux;
			memcpy(&aux, CMSG_DATA(c), sizeof aux);
			csum_valid = !!(aux.tp_status & TP_STATUS_CSUM_VALID);
			if (!(aux.tp_status & TP_STATUS_VLAN_VALID) || len < 12)
				continue;
			uint16_t tpid = (aux.tp_status & TP_STATUS_VLAN_TPID_VALID) ? aux.tp_vlan_tpid
										   : ETH_P_8021Q;
			memmove(buf, frame, 12); /* the MACs move 4 bytes to the front */
			frame = buf;
			frame[12] = (uint8_t)(tpid >> 8);
			frame[13] = (uint8_t)tpid;
			frame[14] = (uint8_t)(aux.tp_vlan_tci >> 8);
			frame[15] = (uint8_t)aux.tp_vlan_tci;
			len += 4;
			wire_len += 4;
		}
		frames++;
		say("F %llu %zu %016llx %d\n", (unsigned long long)frames, wire_len,
		    (unsigned long long)fnv1a64(frame, len), csum_valid);
	}
}

static void read_udp(int fd, int port, int family) {
	static uint8_t buf[MAX_FRAME];
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			if (errno == ECONNREFUSED)
				continue;
			return; /* e.g. a checksum error was reported on this read: counted by the kernel */
		}
		udp_read++;
		say("U %d %d %zd %016llx\n", port, family == AF_INET6 ? 6 : 4, n,
		    (unsigned long long)fnv1a64(buf, (size_t)n));
	}
}

int main(int argc, char **argv) {
	const char *iface = "eth0", *tty_path = NULL, *ready = NULL;
	int ports[MAX_PORTS], nports = 0, opt;
	while ((opt = getopt(argc, argv, "i:t:u:r:")) != -1) {
		switch (opt) {
		case 'i': iface = optarg; break;
		case 't': tty_path = optarg; break;
		case 'r': ready = optarg; break;
		case 'u':
			if (nports == MAX_PORTS) {
				fprintf(stderr, "rx: at most %d UDP ports\n", MAX_PORTS);
				return 1;
			}
			ports[nports++] = atoi(optarg);
			break;
		default:
			fprintf(stderr, "usage: rx -i IFACE -t TTY [-u PORT]... [-r READY_FILE]\n");
			return 1;
		}
	}
	if (!tty_path) {
		fprintf(stderr, "rx: -t TTY is required\n");
		return 1;
	}
	tty = open(tty_path, O_RDWR | O_NOCTTY);
	if (tty < 0) {
		fprintf(stderr, "rx: %s: %s\n", tty_path, strerror(errno));
		return 1;
	}
	struct termios t;
	if (tcgetattr(tty, &t) == 0) {
		cfmakeraw(&t); /* no echo, no CR/LF translation */
		cfsetispeed(&t, B115200);
		cfsetospeed(&t, B115200);
		tcsetattr(tty, TCSANOW, &t);
	}

	int psock = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK, htons(ETH_P_ALL));
	if (psock < 0)
		die("packet socket");
	gro_off(psock, iface);
	big_buffer(psock);
	int one = 1;
	if (setsockopt(psock, SOL_PACKET, PACKET_AUXDATA, &one, sizeof one) < 0)
		die("PACKET_AUXDATA");
	struct sockaddr_ll ll = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL)};
	ll.sll_ifindex = (int)if_nametoindex(iface);
	if (!ll.sll_ifindex)
		die(iface);
	if (bind(psock, (struct sockaddr *)&ll, sizeof ll) < 0)
		die("bind packet");

	struct pollfd fds[2 + 2 * MAX_PORTS];
	int fd_port[2 + 2 * MAX_PORTS], fd_family[2 + 2 * MAX_PORTS];
	int nfds = 0;
	fds[nfds++] = (struct pollfd){.fd = psock, .events = POLLIN};
	fds[nfds++] = (struct pollfd){.fd = tty, .events = POLLIN};
	for (int i = 0; i < nports; i++) {
		for (int k = 0; k < 2; k++) {
			int family = k ? AF_INET6 : AF_INET;
			fd_port[nfds] = ports[i];
			fd_family[nfds] = family;
			fds[nfds++] = (struct pollfd){.fd = udp_socket(family, ports[i]), .events = POLLIN};
		}
	}
	if (ready) {
		int fd = open(ready, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd >= 0)
			close(fd);
	}
	say("R ready\n");

	char cmd[256];
	size_t have = 0;
	for (;;) {
		if (poll(fds, (nfds_t)nfds, -1) < 0) {
			if (errno == EINTR)
				continue;
			die("poll");
		}
		if (fds[0].revents & POLLIN)
			read_frames(psock);
		for (int i = 2; i < nfds; i++)
			if (fds[i].revents & POLLIN)
				read_udp(fds[i].fd, fd_port[i], fd_family[i]);
		if (fds[1].revents & POLLIN) {
			ssize_t n = read(tty, cmd + have, sizeof cmd - 1 - have);
			if (n <= 0)
				continue;
			have += (size_t)n;
			char *nl;
			while ((nl = memchr(cmd, '\n', have)) != NULL) {
				*nl = 0;
				if (nl > cmd && nl[-1] == '\r')
					nl[-1] = 0;
				read_frames(psock); /* whatever arrived before the command */
				for (int i = 2; i < nfds; i++)
					read_udp(fds[i].fd, fd_port[i], fd_family[i]);
				if (!strcmp(cmd, "stats")) {
					stats(iface, psock);
				} else if (!strcmp(cmd, "quit")) {
					stats(iface, psock);
					return 0;
				} else if (cmd[0]) {
					say("E unknown command '%s'\n", cmd);
				}
				size_t used = (size_t)(nl - cmd) + 1;
				memmove(cmd, nl + 1, have - used);
				have -= used;
			}
			if (have == sizeof cmd - 1)
				have = 0; /* an overlong line: drop it */
		}
	}
}
