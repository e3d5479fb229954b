/*
 * eif-vsock-backend: eifkit's vhost-user vsock device for `eif run --emulate` (docs/launcher.md, "Emulation").
 *
 * QEMU's nitro-enclave machine gives the enclave a virtio-vsock device whose rings are served by a vhost-user
 * backend. This is that backend, written so the enclave reaches the parent at vsock CID 3 as on Nitro (rust-vmm's
 * vhost-device-vsock drops packets for CID 3 in its Unix-socket mode).
 *
 *   eif-vsock-backend --guest-cid CID --socket S --uds-path U
 *
 * - vhost-user backend side (QEMU docs/interop/vhost-user.rst): listens on S, serves one QEMU connection; features
 *   VIRTIO_F_VERSION_1 + VHOST_USER_F_PROTOCOL_FEATURES, protocol features CONFIG (the machine reads guest_cid with
 *   GET_CONFIG) and REPLY_ACK. Queues 0 (rx) and 1 (tx); the event queue stays in QEMU (hw/virtio/vhost-vsock-common.c).
 * - virtio-vsock device (virtio 1.2 §5.10): stream sockets only, per-connection credit both ways.
 * - Routing: the guest's connections to CID 3 (the parent, as on Nitro) or CID 2 (the older emulation) port P go to
 *   the Unix socket `U_P`; none there: RST. Host programs connect to U and write `CONNECT <port>\n`; once the guest
 *   accepts they read `OK <host port>\n` (vhost-device-vsock's hybrid protocol) and the guest sees CID 3.
 * - Anything malformed (wrong CID, bad header, lengths beyond the chain, descriptor loops, addresses outside the
 *   memory table) is dropped or answered with RST and counted; never an out-of-bounds access.
 * - Exits when QEMU disconnects or on SIGTERM/SIGINT/SIGHUP, removing S and U. One line per notable event on stderr,
 *   each starting with "eif-vsock-backend: ".
 *
 * Linux, libc only.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

/* ---- vhost-user (vhost-user.rst "Message types") ------------------------------------------------------------ */
enum {
  VU_GET_FEATURES = 1, VU_SET_FEATURES = 2, VU_SET_OWNER = 3, VU_RESET_OWNER = 4, VU_SET_MEM_TABLE = 5,
  VU_SET_LOG_BASE = 6, VU_SET_LOG_FD = 7, VU_SET_VRING_NUM = 8, VU_SET_VRING_ADDR = 9, VU_SET_VRING_BASE = 10,
  VU_GET_VRING_BASE = 11, VU_SET_VRING_KICK = 12, VU_SET_VRING_CALL = 13, VU_SET_VRING_ERR = 14,
  VU_GET_PROTOCOL_FEATURES = 15, VU_SET_PROTOCOL_FEATURES = 16, VU_GET_QUEUE_NUM = 17, VU_SET_VRING_ENABLE = 18,
  VU_GET_CONFIG = 24, VU_SET_CONFIG = 25, VU_RESET_DEVICE = 34, VU_GET_MAX_MEM_SLOTS = 36, VU_SET_STATUS = 39,
  VU_GET_STATUS = 40,
};
#define VU_VERSION 0x1u
#define VU_FLAG_REPLY (1u << 2)
#define VU_FLAG_NEED_REPLY (1u << 3)
#define VU_VRING_IDX_MASK 0xffu
#define VU_VRING_NOFD (1u << 8)
#define VU_MAX_FDS 8
#define VU_MAX_REGIONS 8
#define VU_PAYLOAD_MAX 4096 /* larger than any message this device takes (the memory table is 8 + 8 × 32) */

#define F_PROTOCOL_FEATURES 30
#define F_VERSION_1 32
#define PF_REPLY_ACK 3
#define PF_CONFIG 9
#define PF_STATUS 16
static const uint64_t OFFERED_FEATURES = 1ull << F_VERSION_1 | 1ull << F_PROTOCOL_FEATURES;
static const uint64_t OFFERED_PROTOCOL = 1ull << PF_REPLY_ACK | 1ull << PF_CONFIG;

struct vu_hdr {
  uint32_t request, flags, size;
} __attribute__((packed));

struct vu_region {
  uint64_t gpa, size, uva, mmap_offset;
};

/* ---- virtio rings (virtio 1.2 §2.7 split virtqueues) ---------------------------------------------------------- */
#define VRING_DESC_F_NEXT 1
#define VRING_DESC_F_WRITE 2
#define VRING_DESC_F_INDIRECT 4
#define VRING_AVAIL_F_NO_INTERRUPT 1
#define MAX_QUEUE_SIZE 32768

struct vring_desc {
  uint64_t addr;
  uint32_t len;
  uint16_t flags, next;
};
struct vring_used_elem {
  uint32_t id, len;
};

/* ---- virtio-vsock (virtio 1.2 §5.10.6) ------------------------------------------------------------------------ */
struct vsock_hdr {
  uint64_t src_cid, dst_cid;
  uint32_t src_port, dst_port, len;
  uint16_t type, op;
  uint32_t flags, buf_alloc, fwd_cnt;
} __attribute__((packed));
_Static_assert(sizeof(struct vsock_hdr) == 44, "virtio_vsock_hdr is 44 bytes");
enum { OP_REQUEST = 1, OP_RESPONSE = 2, OP_RST = 3, OP_SHUTDOWN = 4, OP_RW = 5, OP_CREDIT_UPDATE = 6, OP_CREDIT_REQUEST = 7 };
#define TYPE_STREAM 1
#define SHUT_F_RCV 1
#define SHUT_F_SEND 2
#define HOST_CID 2   /* VMADDR_CID_HOST: kept for images made for the older emulation */
#define PARENT_CID 3 /* the parent instance as an enclave sees it on Nitro */
#define MAX_PKT_PAYLOAD (64 * 1024) /* VIRTIO_VSOCK_MAX_PKT_BUF_SIZE */
#define CONN_BUF (256 * 1024)       /* what each connection buffers towards the host: the credit given to the guest */
#define MAX_CONNS 1024
#define MAX_CTRL 4096 /* control packets waiting for rx buffers */

/* The little-endian accessors: x86_64 and aarch64 hosts are little-endian, as virtio 1.x is. */
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "eif-vsock-backend assumes a little-endian host"
#endif

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char *fmt, ...) {
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line - 1, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if (n > (int)sizeof line - 2) n = sizeof line - 2;
  line[n++] = '\n';
  static const char tag[] = "eif-vsock-backend: ";
  struct iovec iov[2] = {{(void *)tag, sizeof tag - 1}, {line, (size_t)n}};
  ssize_t w = writev(2, iov, 2);
  (void)w;
}

/* ---- state ---------------------------------------------------------------------------------------------------- */
struct region {
  uint64_t gpa, size, uva;
  uint8_t *ptr; /* start of the region's memory in this process */
  void *map;
  size_t map_len;
};

struct vq {
  uint32_t num;
  uint16_t last_avail, used_idx;
  uint64_t desc_uva, avail_uva, used_uva;
  struct vring_desc *desc;
  volatile uint16_t *avail; /* flags, idx, ring[num] */
  volatile uint8_t *used;   /* flags, idx, elems[num] */
  int kick_fd, call_fd, err_fd;
  int started, enabled, addr_ok;
  int need_call;
};

enum conn_state { C_HANDSHAKE, C_CONNECTING, C_OPEN };

struct conn {
  int used;
  int fd;
  enum conn_state state;
  uint32_t host_cid;   /* the CID the guest sees for the host end: 3 (or 2) */
  uint32_t host_port;  /* the host end's port */
  uint32_t guest_port;
  /* guest → host: bytes received from the guest, not yet written to fd (a ring of CONN_BUF) */
  uint8_t *buf;
  uint32_t head, count;
  uint32_t fwd_cnt;       /* bytes written to the host socket (our fwd_cnt) */
  uint32_t fwd_reported;  /* fwd_cnt the guest last heard */
  /* host → guest: the guest's credit */
  uint32_t peer_buf_alloc, peer_fwd_cnt, tx_cnt;
  int guest_shut_send;  /* the guest will send no more */
  int guest_shut_rcv;   /* the guest will read no more */
  int host_eof;         /* the host socket read end saw EOF; SHUTDOWN(SEND) queued */
  int registered;       /* the fd is in the epoll set */
  uint32_t in_events;   /* its interest while registered */
  char line[64];        /* the CONNECT line being read */
  uint32_t line_len;
};

struct ctrl_pkt {
  struct vsock_hdr h;
};

static struct {
  uint64_t guest_cid;
  const char *socket_path, *uds_path;
  int epfd, listen_fd, vu_fd, uds_fd, sig_fd;
  uint64_t acked_features, acked_protocol;
  uint8_t status;
  struct region regions[VU_MAX_REGIONS];
  int nregions;
  struct vq vq[2]; /* 0 rx (device → guest), 1 tx (guest → device) */
  struct conn conns[MAX_CONNS];
  struct ctrl_pkt ctrl[MAX_CTRL];
  uint32_t ctrl_head, ctrl_count;
  uint32_t next_host_port;
  /* counters, printed at exit */
  unsigned long dropped, rst_sent, malformed, connects, accepts;
  unsigned long long bytes_to_host, bytes_to_guest;
} D;

/* epoll tags: small integers for the fixed fds, conn index + CONN_TAG for connections */
enum { TAG_LISTEN = 1, TAG_VU, TAG_UDS, TAG_SIG, TAG_KICK0, TAG_KICK1 };
#define CONN_TAG 1000

static void ep_add(int fd, uint32_t events, uint64_t tag) {
  struct epoll_event ev = {.events = events, .data.u64 = tag};
  if (epoll_ctl(D.epfd, EPOLL_CTL_ADD, fd, &ev) != 0) logf_("epoll add: %s", strerror(errno));
}
static void ep_mod(int fd, uint32_t events, uint64_t tag) {
  struct epoll_event ev = {.events = events, .data.u64 = tag};
  epoll_ctl(D.epfd, EPOLL_CTL_MOD, fd, &ev);
}
static void ep_del(int fd) { epoll_ctl(D.epfd, EPOLL_CTL_DEL, fd, NULL); }

static void close_fd(int *fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

static void cleanup_and_exit(int status, const char *why) {
  logf_("exit (%s): to host %llu bytes, to guest %llu bytes, connects %lu, accepts %lu, rst sent %lu, dropped %lu, malformed %lu",
        why, D.bytes_to_host, D.bytes_to_guest, D.connects, D.accepts, D.rst_sent, D.dropped, D.malformed);
  unlink(D.socket_path);
  unlink(D.uds_path);
  exit(status);
}

/* ---- guest memory ------------------------------------------------------------------------------------------- */
static void unmap_all(void) {
  for (int i = 0; i < D.nregions; i++) munmap(D.regions[i].map, D.regions[i].map_len);
  D.nregions = 0;
  for (int q = 0; q < 2; q++) D.vq[q].addr_ok = 0;
}

/* A pointer to [gpa, gpa+len) when it lies wholly inside one region, else NULL. */
static uint8_t *gpa_ptr(uint64_t gpa, uint64_t len) {
  for (int i = 0; i < D.nregions; i++) {
    struct region *r = &D.regions[i];
    if (gpa >= r->gpa && len <= r->size && gpa - r->gpa <= r->size - len) return r->ptr + (gpa - r->gpa);
  }
  return NULL;
}
/* The same for QEMU's own addresses (the ring addresses of SET_VRING_ADDR). */
static uint8_t *uva_ptr(uint64_t uva, uint64_t len) {
  for (int i = 0; i < D.nregions; i++) {
    struct region *r = &D.regions[i];
    if (uva >= r->uva && len <= r->size && uva - r->uva <= r->size - len) return r->ptr + (uva - r->uva);
  }
  return NULL;
}

static int map_ring(struct vq *q) {
  q->addr_ok = 0;
  if (!q->num) return -1;
  uint8_t *d = uva_ptr(q->desc_uva, 16ull * q->num);
  uint8_t *a = uva_ptr(q->avail_uva, 6ull + 2ull * q->num);
  uint8_t *u = uva_ptr(q->used_uva, 6ull + 8ull * q->num);
  if (!d || !a || !u || ((uintptr_t)d & 15) || ((uintptr_t)a & 1) || ((uintptr_t)u & 3)) return -1;
  q->desc = (struct vring_desc *)d;
  q->avail = (volatile uint16_t *)a;
  q->used = u;
  q->addr_ok = 1;
  return 0;
}

static inline uint16_t avail_idx(struct vq *q) { return __atomic_load_n(&q->avail[1], __ATOMIC_ACQUIRE); }
static inline uint16_t used_idx_mem(struct vq *q) { return *(volatile uint16_t *)(q->used + 2); }
static inline int vq_ready(struct vq *q) { return q->started && q->enabled && q->addr_ok; }

static void put_used(struct vq *q, uint16_t head, uint32_t len) {
  volatile struct vring_used_elem *e = (volatile struct vring_used_elem *)(q->used + 4) + (q->used_idx % q->num);
  e->id = head;
  e->len = len;
  q->used_idx++;
  __atomic_store_n((uint16_t *)(q->used + 2), q->used_idx, __ATOMIC_RELEASE);
  q->need_call = 1;
}

static void notify(struct vq *q) {
  if (!q->need_call) return;
  q->need_call = 0;
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  if (q->call_fd >= 0 && !(q->avail[0] & VRING_AVAIL_F_NO_INTERRUPT)) {
    uint64_t one = 1;
    ssize_t w = write(q->call_fd, &one, sizeof one);
    (void)w;
  }
}

/* One descriptor chain, each element checked: index < num, at most num elements (no loops), no indirect table, memory
 * inside the table. Returns the number of elements, or -1 (malformed). `want_write`: 1 for rx chains (every element
 * device-writable), 0 for tx (the readable prefix; writable elements are not expected). */
struct seg {
  uint8_t *p;
  uint32_t len;
};
static int walk_chain(struct vq *q, uint16_t head, int want_write, struct seg *segs, int max_segs, uint64_t *total) {
  uint32_t i = head, n = 0;
  *total = 0;
  for (;;) {
    if (i >= q->num || n >= q->num || (int)n >= max_segs) return -1;
    struct vring_desc d = q->desc[i];
    if (d.flags & VRING_DESC_F_INDIRECT) return -1;
    if (!!(d.flags & VRING_DESC_F_WRITE) != want_write) return -1;
    uint8_t *p = d.len ? gpa_ptr(d.addr, d.len) : NULL;
    if (d.len && !p) return -1;
    segs[n].p = p;
    segs[n].len = d.len;
    *total += d.len;
    n++;
    if (!(d.flags & VRING_DESC_F_NEXT)) break;
    i = d.next;
  }
  return (int)n;
}

/* ---- connections -------------------------------------------------------------------------------------------- */
static struct conn *find_conn(uint32_t host_cid, uint32_t host_port, uint32_t guest_port) {
  for (int i = 0; i < MAX_CONNS; i++) {
    struct conn *c = &D.conns[i];
    if (c->used && c->state != C_HANDSHAKE && c->host_port == host_port && c->guest_port == guest_port && c->host_cid == host_cid) return c;
  }
  return NULL;
}

static struct conn *new_conn(int fd) {
  for (int i = 0; i < MAX_CONNS; i++) {
    if (!D.conns[i].used) {
      struct conn *c = &D.conns[i];
      memset(c, 0, sizeof *c);
      c->used = 1;
      c->fd = fd;
      return c;
    }
  }
  return NULL;
}

static void conn_free(struct conn *c) {
  if (c->fd >= 0) {
    if (c->registered) ep_del(c->fd);
    close(c->fd);
  }
  free(c->buf);
  memset(c, 0, sizeof *c);
  c->fd = -1;
}

static uint32_t peer_credit(struct conn *c) {
  uint32_t in_flight = c->tx_cnt - c->peer_fwd_cnt;
  return in_flight >= c->peer_buf_alloc ? 0 : c->peer_buf_alloc - in_flight;
}

static void queue_ctrl(const struct vsock_hdr *h) {
  if (D.ctrl_count >= MAX_CTRL) {
    D.dropped++;
    return;
  }
  D.ctrl[(D.ctrl_head + D.ctrl_count) % MAX_CTRL].h = *h;
  D.ctrl_count++;
}

static void hdr_for(struct conn *c, struct vsock_hdr *h, uint16_t op, uint32_t flags) {
  memset(h, 0, sizeof *h);
  h->src_cid = c->host_cid;
  h->dst_cid = D.guest_cid;
  h->src_port = c->host_port;
  h->dst_port = c->guest_port;
  h->type = TYPE_STREAM;
  h->op = op;
  h->flags = flags;
  h->buf_alloc = CONN_BUF;
  h->fwd_cnt = c->fwd_cnt;
  c->fwd_reported = c->fwd_cnt;
}

static void send_ctrl(struct conn *c, uint16_t op, uint32_t flags) {
  struct vsock_hdr h;
  hdr_for(c, &h, op, flags);
  if (op == OP_RST) D.rst_sent++;
  queue_ctrl(&h);
}

/* RST for a packet that has no connection here (virtio 1.2 §5.10.6.6: unknown connection → RST), never for an RST. */
static void rst_reply(const struct vsock_hdr *in) {
  if (in->op == OP_RST) return;
  struct vsock_hdr h = {0};
  h.src_cid = in->dst_cid;
  h.dst_cid = D.guest_cid;
  h.src_port = in->dst_port;
  h.dst_port = in->src_port;
  h.type = TYPE_STREAM;
  h.op = OP_RST;
  D.rst_sent++;
  queue_ctrl(&h);
}

static void conn_reset(struct conn *c, const char *why) {
  if (c->state != C_HANDSHAKE) {
    logf_("reset cid %u port %u <-> guest port %u: %s", c->host_cid, c->host_port, c->guest_port, why);
    send_ctrl(c, OP_RST, 0);
  }
  conn_free(c);
}

static int rx_has_room(void);

/* The epoll interest of a connection's host socket: read when the guest can take data; write when data waits.
 * With no interest the fd leaves the epoll set, so a hung-up socket (EPOLLHUP cannot be masked) does not spin. */
static void conn_interest(struct conn *c) {
  if (!c->used || c->fd < 0) return;
  uint32_t ev = 0;
  if (c->state == C_HANDSHAKE) ev = EPOLLIN;
  /* C_CONNECTING: no events, but registered, so a host program that hangs up (EPOLLHUP, always reported) is seen;
   * one that only half-closes after writing its request keeps its connection */
  else if (c->state == C_OPEN) {
    if (!c->host_eof && !c->guest_shut_rcv && peer_credit(c) > 0 && D.ctrl_count == 0 && rx_has_room()) ev |= EPOLLIN;
    if (c->count) ev |= EPOLLOUT;
  }
  uint64_t tag = CONN_TAG + (uint64_t)(c - D.conns);
  if (!ev && c->state != C_CONNECTING) {
    if (c->registered) ep_del(c->fd);
    c->registered = 0;
  } else if (!c->registered) {
    ep_add(c->fd, ev, tag);
    c->registered = 1;
    c->in_events = ev;
  } else if (ev != c->in_events) {
    ep_mod(c->fd, ev, tag);
    c->in_events = ev;
  }
}

static void all_interest(void) {
  for (int i = 0; i < MAX_CONNS; i++)
    if (D.conns[i].used) conn_interest(&D.conns[i]);
}

/* After the guest's data has all reached the host socket: finish a close the guest asked for. */
static void conn_maybe_finish(struct conn *c) {
  if (c->count) return;
  if (c->guest_shut_send && c->fd >= 0 && c->state == C_OPEN) shutdown(c->fd, SHUT_WR);
  if (c->guest_shut_send && c->guest_shut_rcv) {
    /* both directions shut by the guest: the peer answers with RST and the connection is gone (Linux does the same) */
    logf_("closed cid %u port %u <-> guest port %u (guest shut down)", c->host_cid, c->host_port, c->guest_port);
    send_ctrl(c, OP_RST, 0);
    D.rst_sent--; /* an orderly close, not an error */
    conn_free(c);
  }
}

/* Write buffered guest data to the host socket. Returns -1 when the connection was reset. */
static int conn_flush(struct conn *c) {
  while (c->count) {
    uint32_t chunk = c->count;
    if (c->head + chunk > CONN_BUF) chunk = CONN_BUF - c->head;
    ssize_t w = send(c->fd, c->buf + c->head, chunk, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      conn_reset(c, "the host socket is closed");
      return -1;
    }
    c->head = (c->head + (uint32_t)w) % CONN_BUF;
    c->count -= (uint32_t)w;
    c->fwd_cnt += (uint32_t)w;
    D.bytes_to_host += (uint64_t)w;
  }
  /* tell the guest about the room made (it waits for credit when its window is used up) */
  uint32_t fresh = c->fwd_cnt - c->fwd_reported;
  if (fresh && (fresh >= CONN_BUF / 4 || c->count == 0)) send_ctrl(c, OP_CREDIT_UPDATE, 0);
  return 0;
}

/* ---- rx queue: packets to the guest -------------------------------------------------------------------------- */
static int rx_has_room(void) {
  struct vq *q = &D.vq[0];
  return vq_ready(q) && avail_idx(q) != q->last_avail;
}

/* Put one packet (header + payload from `payload`, or read from `fd` when fd >= 0) into the next rx chain.
 * Returns payload bytes delivered, 0 when nothing could be (no buffer; fd would block / EOF reported via *eof),
 * -1 for a malformed chain (dropped and consumed). */
static long rx_put(struct vsock_hdr *h, const uint8_t *payload, uint32_t plen, int fd, uint32_t fd_max, int *eof) {
  struct vq *q = &D.vq[0];
  if (!rx_has_room()) return 0;
  uint16_t head = q->avail[2 + q->last_avail % q->num];
  struct seg segs[64];
  uint64_t total;
  int n = walk_chain(q, head, 1, segs, 64, &total);
  if (n < 0 || total < sizeof *h) {
    D.malformed++;
    q->last_avail++;
    put_used(q, head, 0);
    return -1;
  }
  uint32_t room = (uint32_t)(total - sizeof *h > MAX_PKT_PAYLOAD ? MAX_PKT_PAYLOAD : total - sizeof *h);
  static uint8_t data[MAX_PKT_PAYLOAD];
  if (fd >= 0) {
    uint32_t want = fd_max < room ? fd_max : room;
    ssize_t r;
    do r = recv(fd, data, want, MSG_DONTWAIT);
    while (r < 0 && errno == EINTR);
    if (r == 0) {
      *eof = 1;
      return 0;
    }
    if (r < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK) *eof = 2;
      return 0;
    }
    plen = (uint32_t)r;
    payload = data;
  } else if (plen > room) {
    return 0; /* the caller only sends control packets (no payload) this way */
  }
  h->len = plen;
  /* scatter header then payload over the chain */
  const uint8_t *src[2] = {(const uint8_t *)h, payload};
  uint32_t left[2] = {sizeof *h, plen};
  int part = 0;
  uint32_t written = 0;
  for (int i = 0; i < n && part < 2; i++) {
    uint32_t off = 0;
    while (off < segs[i].len && part < 2) {
      uint32_t k = segs[i].len - off < left[part] ? segs[i].len - off : left[part];
      if (k) memcpy(segs[i].p + off, src[part], k);
      src[part] += k;
      left[part] -= k;
      off += k;
      written += k;
      if (!left[part]) part++;
    }
  }
  q->last_avail++;
  put_used(q, head, written);
  return (long)plen;
}

/* Control packets first (RESPONSE before any data of that connection), then data from the host sockets. */
static void pump_ctrl(void) {
  int had = D.ctrl_count != 0;
  while (D.ctrl_count && rx_has_room()) {
    struct vsock_hdr h = D.ctrl[D.ctrl_head].h;
    int eof = 0;
    long r = rx_put(&h, NULL, 0, -1, 0, &eof);
    if (r < 0) continue; /* a bad chain was consumed; try the next */
    D.ctrl_head = (D.ctrl_head + 1) % MAX_CTRL;
    D.ctrl_count--;
  }
  notify(&D.vq[0]);
  /* host sockets wait while control packets are queued (they go first): read them again now */
  if (had && !D.ctrl_count) all_interest();
}

static void host_readable(struct conn *c) {
  while (c->state == C_OPEN && !c->host_eof && !c->guest_shut_rcv && D.ctrl_count == 0) {
    uint32_t credit = peer_credit(c);
    if (!credit || !rx_has_room()) break;
    struct vsock_hdr h;
    hdr_for(c, &h, OP_RW, 0);
    int eof = 0;
    long r = rx_put(&h, NULL, 0, c->fd, credit, &eof);
    if (r < 0) continue;
    if (r == 0) {
      if (eof == 1) {
        c->host_eof = 1;
        logf_("host end of cid %u port %u <-> guest port %u closed its write side", c->host_cid, c->host_port, c->guest_port);
        send_ctrl(c, OP_SHUTDOWN, SHUT_F_SEND);
      } else if (eof == 2) {
        conn_reset(c, "host socket error");
        notify(&D.vq[0]);
        return;
      }
      break;
    }
    c->tx_cnt += (uint32_t)r;
    D.bytes_to_guest += (uint64_t)r;
  }
  notify(&D.vq[0]);
  pump_ctrl();
  conn_interest(c);
}

/* ---- tx queue: packets from the guest -------------------------------------------------------------------------- */
static int socket_path_for(uint32_t port, struct sockaddr_un *sa) {
  memset(sa, 0, sizeof *sa);
  sa->sun_family = AF_UNIX;
  int n = snprintf(sa->sun_path, sizeof sa->sun_path, "%s_%u", D.uds_path, port);
  return n > 0 && (size_t)n < sizeof sa->sun_path ? 0 : -1;
}

static void guest_request(const struct vsock_hdr *h) {
  uint32_t host_cid = (uint32_t)h->dst_cid;
  if (find_conn(host_cid, h->dst_port, h->src_port)) {
    D.malformed++;
    rst_reply(h);
    return;
  }
  struct sockaddr_un sa;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0 || socket_path_for(h->dst_port, &sa) != 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    logf_("guest port %u -> cid %u port %u: no listener at %s_%u (%s): RST", h->src_port, host_cid, h->dst_port, D.uds_path,
          h->dst_port, fd < 0 ? strerror(errno) : strerror(errno));
    if (fd >= 0) close(fd);
    rst_reply(h);
    return;
  }
  struct conn *c = new_conn(fd);
  if (!c) {
    close(fd);
    logf_("too many connections: RST");
    rst_reply(h);
    return;
  }
  c->state = C_OPEN;
  c->host_cid = host_cid;
  c->host_port = h->dst_port;
  c->guest_port = h->src_port;
  c->peer_buf_alloc = h->buf_alloc;
  c->peer_fwd_cnt = h->fwd_cnt;
  c->buf = malloc(CONN_BUF);
  if (!c->buf) {
    conn_reset(c, "out of memory");
    return;
  }
  D.connects++;
  logf_("guest port %u -> cid %u port %u: connected to %s_%u", c->guest_port, host_cid, c->host_port, D.uds_path, c->host_port);
  send_ctrl(c, OP_RESPONSE, 0);
  conn_interest(c);
}

static void guest_packet(const struct vsock_hdr *h, const uint8_t *payload) {
  if (h->src_cid != D.guest_cid || h->type != TYPE_STREAM) {
    D.malformed++;
    if (h->src_cid == D.guest_cid) rst_reply(h); /* e.g. SEQPACKET, which is not offered */
    return;
  }
  if (h->dst_cid != PARENT_CID && h->dst_cid != HOST_CID) {
    D.dropped++;
    logf_("guest port %u -> cid %llu port %u: not routed (only CID 3 and 2 reach the host): RST", h->src_port,
          (unsigned long long)h->dst_cid, h->dst_port);
    rst_reply(h);
    return;
  }
  struct conn *c = find_conn((uint32_t)h->dst_cid, h->dst_port, h->src_port);
  if (h->op == OP_REQUEST) {
    if (c) {
      D.malformed++;
      conn_reset(c, "a second REQUEST for an open connection");
      return;
    }
    guest_request(h);
    return;
  }
  if (!c) {
    if (h->op != OP_RST) D.dropped++;
    rst_reply(h);
    return;
  }
  c->peer_buf_alloc = h->buf_alloc;
  c->peer_fwd_cnt = h->fwd_cnt;
  switch (h->op) {
    case OP_RESPONSE:
      if (c->state != C_CONNECTING) {
        D.malformed++;
        conn_reset(c, "unexpected RESPONSE");
        return;
      }
      c->state = C_OPEN;
      {
        char ok[32];
        int n = snprintf(ok, sizeof ok, "OK %u\n", c->host_port);
        if (send(c->fd, ok, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) != n) {
          conn_reset(c, "the host program went away");
          return;
        }
      }
      logf_("host -> guest port %u: accepted (host port %u)", c->guest_port, c->host_port);
      break;
    case OP_RST:
      if (c->state == C_CONNECTING) logf_("host -> guest port %u: refused by the guest", c->guest_port);
      else logf_("guest reset cid %u port %u <-> guest port %u", c->host_cid, c->host_port, c->guest_port);
      conn_free(c);
      return;
    case OP_SHUTDOWN:
      if (h->flags & SHUT_F_SEND) c->guest_shut_send = 1;
      if (h->flags & SHUT_F_RCV) c->guest_shut_rcv = 1;
      conn_maybe_finish(c);
      if (c->used) conn_interest(c);
      return;
    case OP_RW: {
      if (c->state != C_OPEN || c->guest_shut_send) {
        D.malformed++;
        conn_reset(c, "data on a connection that is not open");
        return;
      }
      uint32_t len = h->len, off = 0;
      if (c->count == 0) {
        /* straight through when the host socket takes it */
        while (off < len) {
          ssize_t w = send(c->fd, payload + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
          if (w < 0 && errno == EINTR) continue;
          if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
          if (w <= 0) {
            conn_reset(c, "the host socket is closed");
            return;
          }
          off += (uint32_t)w;
          c->fwd_cnt += (uint32_t)w;
          D.bytes_to_host += (uint64_t)w;
        }
      }
      if (len - off > CONN_BUF - c->count) {
        D.malformed++;
        conn_reset(c, "the guest sent beyond its credit");
        return;
      }
      for (uint32_t k = off; k < len;) {
        uint32_t tail = (c->head + c->count) % CONN_BUF;
        uint32_t chunk = len - k;
        if (chunk > CONN_BUF - tail) chunk = CONN_BUF - tail;
        memcpy(c->buf + tail, payload + k, chunk);
        c->count += chunk;
        k += chunk;
      }
      uint32_t fresh = c->fwd_cnt - c->fwd_reported;
      if (fresh >= CONN_BUF / 4) send_ctrl(c, OP_CREDIT_UPDATE, 0);
      break;
    }
    case OP_CREDIT_REQUEST:
      send_ctrl(c, OP_CREDIT_UPDATE, 0);
      break;
    case OP_CREDIT_UPDATE:
      break;
    default:
      D.malformed++;
      conn_reset(c, "unknown op");
      return;
  }
  conn_interest(c);
}

static void process_tx(void) {
  struct vq *q = &D.vq[1];
  static uint8_t pkt[sizeof(struct vsock_hdr) + MAX_PKT_PAYLOAD];
  int budget = 256; /* then let the other fds run; the kick is re-armed below */
  while (vq_ready(q) && avail_idx(q) != q->last_avail && budget-- > 0) {
    uint16_t head = q->avail[2 + q->last_avail % q->num];
    q->last_avail++;
    struct seg segs[64];
    uint64_t total;
    int n = walk_chain(q, head, 0, segs, 64, &total);
    if (n < 0 || total < sizeof(struct vsock_hdr)) {
      D.malformed++;
      put_used(q, head, 0);
      continue;
    }
    uint64_t want = total > sizeof pkt ? sizeof pkt : total, got = 0;
    for (int i = 0; i < n && got < want; i++) {
      uint64_t k = segs[i].len < want - got ? segs[i].len : want - got;
      memcpy(pkt + got, segs[i].p, k);
      got += k;
    }
    struct vsock_hdr h;
    memcpy(&h, pkt, sizeof h);
    put_used(q, head, 0);
    if (h.len > got - sizeof h || (h.op != OP_RW && h.len != 0)) {
      D.malformed++;
      struct conn *c = find_conn((uint32_t)h.dst_cid, h.dst_port, h.src_port);
      if (h.src_cid == D.guest_cid && c) conn_reset(c, "a packet longer than its buffers");
      continue;
    }
    guest_packet(&h, pkt + sizeof h);
  }
  notify(q);
  pump_ctrl();
  all_interest();
  if (vq_ready(q) && avail_idx(q) != q->last_avail) {
    /* more to do: come back after the other fds (a kick to ourselves) */
    uint64_t one = 1;
    if (q->kick_fd >= 0) {
      ssize_t w = write(q->kick_fd, &one, sizeof one);
      (void)w;
    }
  }
}

/* ---- host side: the hybrid `CONNECT <port>` protocol on U --------------------------------------------------------- */
static uint32_t alloc_host_port(void) {
  for (int tries = 0; tries < 65536; tries++) {
    uint32_t p = D.next_host_port++;
    if (D.next_host_port > 0x7fffffffu) D.next_host_port = 1024;
    int used = 0;
    for (int i = 0; i < MAX_CONNS && !used; i++)
      used = D.conns[i].used && D.conns[i].state != C_HANDSHAKE && D.conns[i].host_port == p && D.conns[i].host_cid == PARENT_CID;
    if (!used) return p;
  }
  return 0;
}

static void handshake_readable(struct conn *c) {
  /* one byte at a time: whatever follows the line is the program's data for the enclave */
  while (c->line_len < sizeof c->line - 1) {
    char ch;
    ssize_t r = recv(c->fd, &ch, 1, MSG_DONTWAIT);
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      conn_free(c);
      return;
    }
    if (ch == '\n') {
      c->line[c->line_len] = 0;
      if (c->line_len && c->line[c->line_len - 1] == '\r') c->line[c->line_len - 1] = 0;
      char *end;
      unsigned long port = 0;
      int ok = strncmp(c->line, "CONNECT ", 8) == 0;
      if (ok) {
        errno = 0;
        port = strtoul(c->line + 8, &end, 10);
        ok = !errno && end != c->line + 8 && *end == 0 && port <= 0xffffffffu;
      }
      if (!ok) {
        logf_("host connection: expected \"CONNECT <port>\", got \"%.40s\": closed", c->line);
        conn_free(c);
        return;
      }
      if (!vq_ready(&D.vq[0]) || !vq_ready(&D.vq[1])) {
        logf_("host -> guest port %lu: the guest's vsock device is not running: closed", port);
        conn_free(c);
        return;
      }
      c->host_cid = PARENT_CID;
      c->host_port = alloc_host_port();
      c->guest_port = (uint32_t)port;
      c->buf = malloc(CONN_BUF);
      if (!c->host_port || !c->buf) {
        conn_free(c);
        return;
      }
      c->state = C_CONNECTING;
      D.accepts++;
      logf_("host -> guest port %u: REQUEST from cid 3 port %u", c->guest_port, c->host_port);
      send_ctrl(c, OP_REQUEST, 0);
      pump_ctrl();
      conn_interest(c);
      return;
    }
    c->line[c->line_len++] = ch;
  }
  logf_("host connection: CONNECT line too long: closed");
  conn_free(c);
}

static void uds_accept(void) {
  for (;;) {
    int fd = accept4(D.uds_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    struct conn *c = new_conn(fd);
    if (!c) {
      logf_("too many connections: host connection refused");
      close(fd);
      continue;
    }
    c->state = C_HANDSHAKE;
    conn_interest(c);
  }
}

static void conn_event(struct conn *c, uint32_t ev) {
  if (c->state == C_HANDSHAKE) {
    handshake_readable(c);
    return;
  }
  if (c->state == C_CONNECTING) {
    /* the host program hung up before the guest answered */
    if (ev & (EPOLLHUP | EPOLLERR)) conn_reset(c, "the host program went away");
    pump_ctrl();
    return;
  }
  if (ev & EPOLLOUT) {
    if (conn_flush(c) < 0) {
      pump_ctrl();
      return;
    }
    conn_maybe_finish(c);
    if (!c->used) {
      pump_ctrl();
      return;
    }
  }
  if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) host_readable(c);
  else {
    pump_ctrl();
    conn_interest(c);
  }
}

/* ---- vhost-user messages ------------------------------------------------------------------------------------- */
static void reset_device(const char *why) {
  int n = 0;
  for (int i = 0; i < MAX_CONNS; i++)
    if (D.conns[i].used) {
      conn_free(&D.conns[i]);
      n++;
    }
  D.ctrl_count = 0;
  if (n) logf_("device %s: %d connection(s) closed", why, n);
}

static void vq_stop(struct vq *q) {
  q->started = 0;
  if (q->kick_fd >= 0) ep_del(q->kick_fd);
  close_fd(&q->kick_fd);
  close_fd(&q->call_fd);
}

static void vu_reply(struct vu_hdr *req, const void *payload, uint32_t size) {
  struct vu_hdr h = {req->request, VU_VERSION | VU_FLAG_REPLY, size};
  struct iovec iov[2] = {{&h, sizeof h}, {(void *)payload, size}};
  struct msghdr m = {.msg_iov = iov, .msg_iovlen = 2};
  if (sendmsg(D.vu_fd, &m, MSG_NOSIGNAL) != (ssize_t)(sizeof h + size)) cleanup_and_exit(1, "cannot reply to QEMU");
}

static void vu_reply_u64(struct vu_hdr *req, uint64_t v) { vu_reply(req, &v, sizeof v); }

static int read_full(int fd, void *p, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = recv(fd, (uint8_t *)p + got, n - got, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    got += (size_t)r;
  }
  return 0;
}

static int vq_index(uint64_t v, const char *what) {
  unsigned i = (unsigned)(v & VU_VRING_IDX_MASK);
  if (i > 1) {
    logf_("%s for queue %u: this device has queues 0 and 1", what, i);
    return -1;
  }
  return (int)i;
}

static void set_mem_table(const uint8_t *p, uint32_t size, int *fds, int nfds) {
  uint32_t n;
  if (size < 8) goto bad;
  memcpy(&n, p, 4);
  if (n > VU_MAX_REGIONS || size < 8 + n * sizeof(struct vu_region) || (int)n != nfds) goto bad;
  unmap_all();
  for (uint32_t i = 0; i < n; i++) {
    struct vu_region r;
    memcpy(&r, p + 8 + i * sizeof r, sizeof r);
    if (!r.size || r.mmap_offset > UINT64_MAX - r.size || r.gpa > UINT64_MAX - r.size || r.uva > UINT64_MAX - r.size) goto bad;
    size_t len = (size_t)(r.size + r.mmap_offset);
    void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fds[i], 0);
    if (m == MAP_FAILED) {
      logf_("cannot map guest memory region %u (%llu bytes): %s", i, (unsigned long long)r.size, strerror(errno));
      goto bad;
    }
    D.regions[D.nregions++] = (struct region){r.gpa, r.size, r.uva, (uint8_t *)m + r.mmap_offset, m, len};
  }
  for (int i = 0; i < nfds; i++) close(fds[i]);
  for (int q = 0; q < 2; q++)
    if (D.vq[q].desc_uva && map_ring(&D.vq[q]) != 0) logf_("queue %d: its rings are not inside the new memory table", q);
  logf_("memory table: %u region(s)", n);
  return;
bad:
  for (int i = 0; i < nfds; i++) close(fds[i]);
  D.malformed++;
  logf_("malformed SET_MEM_TABLE: ignored");
}

/* One message from QEMU. Returns 0, or -1 when the connection must end. */
static int vu_message(void) {
  struct vu_hdr h;
  static uint8_t payload[VU_PAYLOAD_MAX];
  int fds[VU_MAX_FDS], nfds = 0;
  char cbuf[CMSG_SPACE(sizeof(int) * VU_MAX_FDS)];
  struct iovec iov = {&h, sizeof h};
  struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
  ssize_t r;
  do r = recvmsg(D.vu_fd, &m, MSG_CMSG_CLOEXEC);
  while (r < 0 && errno == EINTR);
  if (r <= 0) return -1;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
      for (int i = 0; i < k; i++) {
        int fd;
        memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
        if (nfds < VU_MAX_FDS) fds[nfds++] = fd;
        else close(fd);
      }
    }
  }
  if ((size_t)r < sizeof h && read_full(D.vu_fd, (uint8_t *)&h + r, sizeof h - (size_t)r) != 0) goto fail;
  if ((h.flags & 3) != VU_VERSION || h.size > VU_PAYLOAD_MAX) {
    logf_("bad vhost-user header (request %u, flags 0x%x, size %u)", h.request, h.flags, h.size);
    goto fail;
  }
  if (h.size && read_full(D.vu_fd, payload, h.size) != 0) goto fail;
  uint64_t u64 = 0;
  if (h.size >= 8) memcpy(&u64, payload, 8);
  int ack = 0, replied = 0;
#define NEED(n)                                                                               \
  do {                                                                                        \
    if (h.size < (n)) {                                                                       \
      logf_("vhost-user request %u: payload of %u bytes, %u expected", h.request, h.size, (unsigned)(n)); \
      D.malformed++;                                                                          \
      ack = 1;                                                                                \
      break;                                                                                  \
    }                                                                                         \
  } while (0)
  switch (h.request) {
    case VU_GET_FEATURES:
      vu_reply_u64(&h, OFFERED_FEATURES);
      replied = 1;
      break;
    case VU_SET_FEATURES:
      NEED(8);
      if (ack) break;
      if (u64 & ~OFFERED_FEATURES) logf_("QEMU acked features 0x%llx beyond the offered 0x%llx: ignored", (unsigned long long)u64, (unsigned long long)OFFERED_FEATURES);
      D.acked_features = u64 & OFFERED_FEATURES;
      /* without VHOST_USER_F_PROTOCOL_FEATURES the rings start enabled (vhost-user.rst "Ring states") */
      if (!(D.acked_features & 1ull << F_PROTOCOL_FEATURES)) D.vq[0].enabled = D.vq[1].enabled = 1;
      break;
    case VU_GET_PROTOCOL_FEATURES:
      vu_reply_u64(&h, OFFERED_PROTOCOL);
      replied = 1;
      break;
    case VU_SET_PROTOCOL_FEATURES:
      NEED(8);
      if (ack) break;
      D.acked_protocol = u64 & OFFERED_PROTOCOL;
      break;
    case VU_GET_QUEUE_NUM:
      vu_reply_u64(&h, 2);
      replied = 1;
      break;
    case VU_GET_MAX_MEM_SLOTS:
      vu_reply_u64(&h, VU_MAX_REGIONS);
      replied = 1;
      break;
    case VU_SET_OWNER:
      break;
    case VU_RESET_OWNER:
    case VU_RESET_DEVICE:
      for (int q = 0; q < 2; q++) {
        vq_stop(&D.vq[q]);
        D.vq[q].last_avail = D.vq[q].used_idx = 0;
        D.vq[q].enabled = !(D.acked_features & 1ull << F_PROTOCOL_FEATURES);
      }
      reset_device("reset");
      break;
    case VU_SET_MEM_TABLE:
      set_mem_table(payload, h.size, fds, nfds);
      nfds = 0;
      break;
    case VU_SET_LOG_BASE:
    case VU_SET_LOG_FD:
      logf_("vhost-user request %u (dirty log) is not supported: ignored", h.request);
      ack = 2;
      break;
    case VU_SET_VRING_NUM: {
      NEED(8);
      if (ack) break;
      struct { uint32_t index, num; } s;
      memcpy(&s, payload, 8);
      int q = vq_index(s.index, "SET_VRING_NUM");
      if (q < 0 || !s.num || s.num > MAX_QUEUE_SIZE || (s.num & (s.num - 1))) {
        D.malformed++;
        ack = 2;
        break;
      }
      D.vq[q].num = s.num;
      D.vq[q].addr_ok = 0;
      break;
    }
    case VU_SET_VRING_ADDR: {
      NEED(40);
      if (ack) break;
      struct { uint32_t index, flags; uint64_t desc, used, avail, log; } a;
      memcpy(&a, payload, sizeof a);
      int q = vq_index(a.index, "SET_VRING_ADDR");
      if (q < 0) {
        ack = 2;
        break;
      }
      D.vq[q].desc_uva = a.desc;
      D.vq[q].used_uva = a.used;
      D.vq[q].avail_uva = a.avail;
      if (map_ring(&D.vq[q]) != 0) {
        logf_("queue %d: ring addresses outside the memory table", q);
        D.malformed++;
        ack = 2;
        break;
      }
      D.vq[q].used_idx = used_idx_mem(&D.vq[q]);
      if (D.vq[q].last_avail != D.vq[q].used_idx) D.vq[q].last_avail = D.vq[q].used_idx; /* processed in order */
      break;
    }
    case VU_SET_VRING_BASE: {
      NEED(8);
      if (ack) break;
      struct { uint32_t index, num; } s;
      memcpy(&s, payload, 8);
      int q = vq_index(s.index, "SET_VRING_BASE");
      if (q < 0) {
        ack = 2;
        break;
      }
      D.vq[q].last_avail = (uint16_t)s.num;
      break;
    }
    case VU_GET_VRING_BASE: {
      struct { uint32_t index, num; } s = {0, 0};
      memcpy(&s, payload, h.size >= 8 ? 8 : 0);
      int q = vq_index(s.index, "GET_VRING_BASE");
      if (q >= 0) {
        s.num = D.vq[q].last_avail;
        vq_stop(&D.vq[q]);
        if (!D.vq[0].started && !D.vq[1].started) reset_device("stopped");
      }
      vu_reply(&h, &s, sizeof s);
      replied = 1;
      break;
    }
    case VU_SET_VRING_KICK:
    case VU_SET_VRING_CALL:
    case VU_SET_VRING_ERR: {
      NEED(8);
      if (ack) break;
      int q = vq_index(u64, "SET_VRING_KICK/CALL/ERR");
      int fd = -1;
      if (!(u64 & VU_VRING_NOFD)) {
        if (nfds != 1) {
          logf_("vhost-user request %u without its file descriptor", h.request);
          D.malformed++;
          ack = 2;
          break;
        }
        fd = fds[0];
        nfds = 0;
      }
      if (q < 0) {
        if (fd >= 0) close(fd);
        ack = 2;
        break;
      }
      struct vq *v = &D.vq[q];
      if (h.request == VU_SET_VRING_CALL) {
        close_fd(&v->call_fd);
        v->call_fd = fd;
      } else if (h.request == VU_SET_VRING_ERR) {
        close_fd(&v->err_fd);
        v->err_fd = fd;
      } else {
        if (v->kick_fd >= 0) ep_del(v->kick_fd);
        close_fd(&v->kick_fd);
        v->kick_fd = fd;
        if (fd < 0) logf_("queue %d: polling mode (no kick fd) is not supported", q);
        else ep_add(fd, EPOLLIN, q == 0 ? TAG_KICK0 : TAG_KICK1);
        v->started = fd >= 0;
        if (v->started) logf_("queue %d (%s) started: %u entries", q, q == 0 ? "rx" : "tx", v->num);
      }
      break;
    }
    case VU_SET_VRING_ENABLE: {
      NEED(8);
      if (ack) break;
      struct { uint32_t index, num; } s;
      memcpy(&s, payload, 8);
      int q = vq_index(s.index, "SET_VRING_ENABLE");
      if (q < 0) {
        ack = 2;
        break;
      }
      D.vq[q].enabled = s.num != 0;
      break;
    }
    case VU_GET_CONFIG: {
      /* virtio 1.2 §5.10.4: struct virtio_vsock_config { le64 guest_cid; } */
      struct { uint32_t offset, size, flags; uint8_t region[256]; } cfg;
      memset(&cfg, 0, sizeof cfg);
      if (h.size >= 12) memcpy(&cfg, payload, 12);
      if (h.size < 12 || cfg.size > 256 || cfg.offset > 256 - cfg.size || h.size != 12 + cfg.size) {
        logf_("malformed GET_CONFIG (size %u)", h.size);
        D.malformed++;
        cfg.size = 0;
        vu_reply(&h, &cfg, 12);
        replied = 1;
        break;
      }
      uint8_t space[256] = {0};
      memcpy(space, &D.guest_cid, 8);
      memcpy(cfg.region, space + cfg.offset, cfg.size);
      vu_reply(&h, &cfg, 12 + cfg.size);
      replied = 1;
      break;
    }
    case VU_SET_CONFIG:
      ack = 2; /* the configuration is read-only */
      break;
    case VU_SET_STATUS:
      D.status = (uint8_t)u64;
      break;
    case VU_GET_STATUS:
      vu_reply_u64(&h, D.status);
      replied = 1;
      break;
    default:
      logf_("vhost-user request %u is not supported", h.request);
      ack = 2;
      break;
  }
  for (int i = 0; i < nfds; i++) close(fds[i]);
  if (!replied && (h.flags & VU_FLAG_NEED_REPLY) && (D.acked_protocol & 1ull << PF_REPLY_ACK)) vu_reply_u64(&h, ack ? 1 : 0);
  /* a started ring may already hold buffers */
  if (vq_ready(&D.vq[1])) process_tx();
  if (vq_ready(&D.vq[0])) {
    pump_ctrl();
    all_interest();
  }
  return 0;
fail:
  for (int i = 0; i < nfds; i++) close(fds[i]);
  return -1;
}

/* ---- main ------------------------------------------------------------------------------------------------------ */
static int listen_unix(const char *path) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof sa.sun_path) {
    logf_("socket path too long (%zu bytes, at most %zu): %s", strlen(path), sizeof sa.sun_path - 1, path);
    return -1;
  }
  strcpy(sa.sun_path, path);
  unlink(path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 64) != 0) {
    logf_("cannot listen on %s: %s", path, strerror(errno));
    return -1;
  }
  return fd;
}

static void usage(void) {
  fprintf(stderr,
          "usage: eif-vsock-backend --guest-cid CID --socket VHOST_USER_SOCKET --uds-path HOST_SOCKET\n"
          "  QEMU connects to VHOST_USER_SOCKET (-chardev socket,path=...). The guest's connections to CID 3 (or 2)\n"
          "  port P reach the Unix socket HOST_SOCKET_P; host programs connect to HOST_SOCKET and write\n"
          "  \"CONNECT <port>\\n\" to reach the guest's port, answered \"OK <host port>\\n\".\n");
  exit(2);
}

int main(int argc, char **argv) {
  const char *cid = NULL;
  for (int i = 1; i < argc; i++) {
    if (i + 1 < argc && !strcmp(argv[i], "--guest-cid")) cid = argv[++i];
    else if (i + 1 < argc && !strcmp(argv[i], "--socket")) D.socket_path = argv[++i];
    else if (i + 1 < argc && !strcmp(argv[i], "--uds-path")) D.uds_path = argv[++i];
    else usage();
  }
  if (!cid || !D.socket_path || !D.uds_path) usage();
  char *end;
  errno = 0;
  unsigned long long c = strtoull(cid, &end, 10);
  if (errno || *end || c < 3 || c > 0xfffffffeull || c == PARENT_CID) {
    fprintf(stderr, "eif-vsock-backend: --guest-cid must be a number from 4 to 4294967294\n");
    return 2;
  }
  D.guest_cid = c;
  D.next_host_port = 1024;
  D.listen_fd = D.vu_fd = D.uds_fd = -1;
  for (int q = 0; q < 2; q++) D.vq[q].kick_fd = D.vq[q].call_fd = D.vq[q].err_fd = -1;
  for (int i = 0; i < MAX_CONNS; i++) D.conns[i].fd = -1;

  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGHUP);
  sigprocmask(SIG_BLOCK, &sigs, NULL);
  signal(SIGPIPE, SIG_IGN);
  D.sig_fd = signalfd(-1, &sigs, SFD_CLOEXEC);
  D.epfd = epoll_create1(EPOLL_CLOEXEC);
  if (D.sig_fd < 0 || D.epfd < 0) {
    logf_("signalfd/epoll: %s", strerror(errno));
    return 1;
  }
  /* the host socket first: the vhost-user socket appearing is the supervisor's sign that we are ready */
  D.uds_fd = listen_unix(D.uds_path);
  if (D.uds_fd < 0) return 1;
  D.listen_fd = listen_unix(D.socket_path);
  if (D.listen_fd < 0) {
    unlink(D.uds_path);
    return 1;
  }
  ep_add(D.sig_fd, EPOLLIN, TAG_SIG);
  ep_add(D.listen_fd, EPOLLIN, TAG_LISTEN);
  ep_add(D.uds_fd, EPOLLIN, TAG_UDS);
  logf_("listening: vhost-user %s, host %s, guest cid %llu", D.socket_path, D.uds_path, (unsigned long long)D.guest_cid);

  for (;;) {
    struct epoll_event evs[64];
    int n = epoll_wait(D.epfd, evs, 64, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) cleanup_and_exit(1, "epoll_wait failed");
    for (int i = 0; i < n; i++) {
      uint64_t tag = evs[i].data.u64;
      if (tag == TAG_SIG) {
        struct signalfd_siginfo si;
        ssize_t r = read(D.sig_fd, &si, sizeof si);
        (void)r;
        cleanup_and_exit(0, si.ssi_signo == SIGTERM ? "SIGTERM" : si.ssi_signo == SIGINT ? "SIGINT" : "SIGHUP");
      } else if (tag == TAG_LISTEN) {
        int fd = accept4(D.listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) continue;
        if (D.vu_fd >= 0) {
          logf_("a second vhost-user connection refused");
          close(fd);
          continue;
        }
        D.vu_fd = fd;
        ep_add(fd, EPOLLIN, TAG_VU);
        /* one QEMU per backend: stop listening (the socket file stays until exit) */
        ep_del(D.listen_fd);
        logf_("QEMU connected");
      } else if (tag == TAG_VU) {
        if (vu_message() != 0) cleanup_and_exit(0, "QEMU disconnected");
      } else if (tag == TAG_UDS) {
        uds_accept();
      } else if (tag == TAG_KICK0 || tag == TAG_KICK1) {
        struct vq *q = &D.vq[tag == TAG_KICK0 ? 0 : 1];
        uint64_t v;
        if (q->kick_fd >= 0) {
          ssize_t r = read(q->kick_fd, &v, sizeof v);
          (void)r;
        }
        if (tag == TAG_KICK1) process_tx();
        else {
          pump_ctrl();
          all_interest(); /* fresh rx buffers: the host sockets may be read again */
        }
      } else if (tag >= CONN_TAG && tag < CONN_TAG + MAX_CONNS) {
        struct conn *c = &D.conns[tag - CONN_TAG];
        if (c->used) conn_event(c, evs[i].events);
      }
    }
  }
}
