/*
 * vsock_frontend: a test stand-in for QEMU and the guest's virtio-vsock driver, to check eif-vsock-backend's rings
 * without a VM (test/emulate/vsock-backend.test.ts). It speaks vhost-user as QEMU does (vhost-user.rst: features,
 * a memfd memory table whose guest-physical addresses differ from its own, rings 0 and 1, kick/call eventfds,
 * reply-ack), then plays the guest: connects to the parent at CID 3, moves data both ways, and sends what a broken
 * or hostile guest might (descriptor loops, addresses outside memory, lengths beyond the chain, indirect tables,
 * foreign CIDs), checking each is dropped or reset while the backend keeps serving.
 *
 *   vsock_frontend VHOST_SOCKET UDS_PATH GUEST_CID
 *
 * Prints "ok <check>" per check; the first failure prints "FAIL <check>: <why>" and exits 1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define QSZ 16
#define MEM_SIZE (4u << 20)
#define GPA_BASE 0x40000000ull /* guest-physical base: not the frontend's own address */
#define RXBUF 4096

struct vhdr {
  uint64_t src_cid, dst_cid;
  uint32_t src_port, dst_port, len;
  uint16_t type, op;
  uint32_t flags, buf_alloc, fwd_cnt;
} __attribute__((packed));
struct desc {
  uint64_t addr;
  uint32_t len;
  uint16_t flags, next;
};
enum { REQUEST = 1, RESPONSE = 2, RST = 3, SHUTDOWN = 4, RW = 5, CREDIT_UPDATE = 6 };

static int vu;
static uint8_t *mem;
static uint64_t guest_cid;
static const char *uds;
static const char *check = "setup";

static void fail(const char *why) {
  printf("FAIL %s: %s\n", check, why);
  fflush(stdout);
  exit(1);
}
static void ok(void) {
  printf("ok %s\n", check);
  fflush(stdout);
}

/* ---- vhost-user ---- */
static void vu_send(uint32_t req, uint32_t flags, const void *payload, uint32_t size, const int *fds, int nfds) {
  struct {
    uint32_t request, flags, size;
  } __attribute__((packed)) h = {req, 1 | flags, size};
  struct iovec iov[2] = {{&h, 12}, {(void *)payload, size}};
  char cbuf[CMSG_SPACE(sizeof(int) * 8)];
  struct msghdr m = {.msg_iov = iov, .msg_iovlen = size ? 2 : 1};
  if (nfds) {
    m.msg_control = cbuf;
    m.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
    memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
  }
  if (sendmsg(vu, &m, 0) != (ssize_t)(12 + size)) fail("sendmsg to the backend");
}
static uint64_t vu_reply_u64(uint32_t req) {
  uint8_t buf[12 + 8];
  struct pollfd p = {vu, POLLIN, 0};
  if (poll(&p, 1, 3000) != 1) fail("no reply from the backend");
  if (recv(vu, buf, sizeof buf, MSG_WAITALL) != (ssize_t)sizeof buf) fail("short reply");
  uint32_t r, size;
  memcpy(&r, buf, 4);
  memcpy(&size, buf + 8, 4);
  if (r != req || size != 8) fail("unexpected reply");
  uint64_t v;
  memcpy(&v, buf + 12, 8);
  return v;
}
static void vu_u64(uint32_t req, uint64_t v) { vu_send(req, 0, &v, 8, NULL, 0); }
static void vu_state(uint32_t req, uint32_t idx, uint32_t num) {
  uint32_t s[2] = {idx, num};
  vu_send(req, 0, s, 8, NULL, 0);
}

/* ---- rings: offsets in the memfd ---- */
struct ring {
  uint32_t desc_off, avail_off, used_off;
  uint16_t avail_idx, used_seen;
  int kick, call;
};
static struct ring R[2] = {{0x0000, 0x0400, 0x0800, 0, 0, -1, -1}, {0x1000, 0x1400, 0x1800, 0, 0, -1, -1}};
static struct desc *D(int q) { return (struct desc *)(mem + R[q].desc_off); }
static volatile uint16_t *AV(int q) { return (volatile uint16_t *)(mem + R[q].avail_off); }
static volatile uint8_t *US(int q) { return mem + R[q].used_off; }
static uint64_t gpa(uint32_t off) { return GPA_BASE + off; }

static void kick(int q) {
  uint64_t one = 1;
  if (write(R[q].kick, &one, 8) != 8) fail("kick");
}
static void publish(int q, uint16_t head) {
  AV(q)[2 + R[q].avail_idx % QSZ] = head;
  __atomic_store_n((uint16_t *)&AV(q)[1], ++R[q].avail_idx, __ATOMIC_RELEASE);
  kick(q);
}
static uint16_t used_idx(int q) { return __atomic_load_n((uint16_t *)(US(q) + 2), __ATOMIC_ACQUIRE); }
static int wait_used(int q, uint16_t want, int ms) {
  struct timespec t0, t;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  while ((uint16_t)(used_idx(q) - want) > 0x8000) {
    struct pollfd p = {R[q].call, POLLIN, 0};
    poll(&p, 1, 20);
    uint64_t v;
    if (p.revents & POLLIN && read(R[q].call, &v, 8) != 8) fail("call fd");
    clock_gettime(CLOCK_MONOTONIC, &t);
    if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 > ms) return -1;
  }
  return 0;
}

/* rx buffers: descriptor i (0..QSZ-1) → 0x10000 + i * 0x2000, RXBUF + header bytes, device-writable */
static void post_rx(int i) {
  D(0)[i] = (struct desc){gpa(0x10000 + i * 0x2000), RXBUF + 44, 2 /* WRITE */, 0};
  publish(0, (uint16_t)i);
}
/* the next packet the backend put into rx: header and payload; -1 when none within ms */
static uint8_t rxdata[RXBUF];
static int next_rx(struct vhdr *h, int ms) {
  if (wait_used(0, (uint16_t)(R[0].used_seen + 1), ms) != 0) return -1;
  volatile uint32_t *e = (volatile uint32_t *)(US(0) + 4 + 8 * (R[0].used_seen % QSZ));
  uint32_t id = e[0], len = e[1];
  R[0].used_seen++;
  if (id >= QSZ) fail("rx used id out of range");
  post_rx((int)id); /* give the buffer back */
  if (len == 0) return next_rx(h, ms); /* a buffer the backend refused (malformed) */
  if (len < 44) fail("rx packet shorter than a header");
  uint8_t *b = mem + 0x10000 + id * 0x2000;
  memcpy(h, b, 44);
  if (h->len != len - 44 || h->len > RXBUF) fail("rx header len disagrees with the used length");
  memcpy(rxdata, b + 44, h->len);
  return 0;
}
/* one tx packet in descriptors [16*slot..]: header and payload in two descriptors */
static uint16_t tx_head = 0;
static void send_tx(const struct vhdr *h, const void *payload, uint32_t plen) {
  uint16_t i = tx_head;
  tx_head = (uint16_t)((tx_head + 2) % QSZ);
  uint32_t off = 0x30000 + i * 0x10000;
  memcpy(mem + off, h, 44);
  memcpy(mem + off + 64, payload, plen);
  D(1)[i] = (struct desc){gpa(off), 44, plen ? 1 /* NEXT */ : 0, (uint16_t)(i + 1)};
  D(1)[i + 1] = (struct desc){gpa(off + 64), plen, 0, 0};
  uint16_t want = (uint16_t)(used_idx(1) + 1);
  publish(1, i);
  if (wait_used(1, want, 3000) != 0) fail("the backend did not consume a tx packet");
}
static void send_raw_tx(uint16_t head) {
  uint16_t want = (uint16_t)(used_idx(1) + 1);
  publish(1, head);
  if (wait_used(1, want, 3000) != 0) fail("the backend did not consume a malformed tx chain");
}
static struct vhdr pkt(uint64_t dst_cid, uint32_t src_port, uint32_t dst_port, uint16_t op, uint32_t len) {
  return (struct vhdr){guest_cid, dst_cid, src_port, dst_port, len, 1, op, 0, 65536, 0};
}
static void expect_rx(uint16_t op, uint32_t src_port, uint32_t dst_port, const char *what) {
  struct vhdr h;
  for (;;) {
    if (next_rx(&h, 3000) != 0) fail(what);
    if (h.op == CREDIT_UPDATE) continue;
    break;
  }
  if (h.op != op || h.src_port != src_port || h.dst_port != dst_port || h.dst_cid != guest_cid || h.type != 1) {
    char why[160];
    snprintf(why, sizeof why, "%s: got op %u %u->%u", what, h.op, h.src_port, h.dst_port);
    fail(why);
  }
}

static int unix_listen(uint32_t port) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  snprintf(sa.sun_path, sizeof sa.sun_path, "%s_%u", uds, port);
  unlink(sa.sun_path);
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) || listen(fd, 4)) fail("unix listener");
  return fd;
}
static int accept_within(int l, int ms) {
  struct pollfd p = {l, POLLIN, 0};
  if (poll(&p, 1, ms) != 1) return -1;
  return accept(l, NULL, NULL);
}

int main(int argc, char **argv) {
  if (argc != 4) return 2;
  uds = argv[2];
  guest_cid = strtoull(argv[3], NULL, 10);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  snprintf(sa.sun_path, sizeof sa.sun_path, "%s", argv[1]);
  vu = socket(AF_UNIX, SOCK_STREAM, 0);
  if (connect(vu, (struct sockaddr *)&sa, sizeof sa)) fail("connect to the vhost-user socket");

  check = "vhost-user set-up";
  vu_send(1, 0, NULL, 0, NULL, 0);
  uint64_t f = vu_reply_u64(1);
  vu_u64(2, f);
  vu_send(15, 0, NULL, 0, NULL, 0);
  uint64_t pf = vu_reply_u64(15);
  vu_u64(16, pf);
  vu_send(3, 0, NULL, 0, NULL, 0);
  int mfd = memfd_create("guest", 0);
  if (mfd < 0 || ftruncate(mfd, MEM_SIZE)) fail("memfd");
  mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
  if (mem == MAP_FAILED) fail("mmap");
  struct {
    uint32_t n, pad;
    uint64_t gpa, size, uva, off;
  } table = {1, 0, GPA_BASE, MEM_SIZE, (uint64_t)(uintptr_t)mem, 0};
  vu_send(5, 8 /* need reply */, &table, sizeof table, &mfd, 1);
  if (vu_reply_u64(5) != 0) fail("SET_MEM_TABLE not acknowledged");
  for (int q = 0; q < 2; q++) {
    R[q].kick = eventfd(0, EFD_NONBLOCK);
    R[q].call = eventfd(0, EFD_NONBLOCK);
    vu_state(8, (uint32_t)q, QSZ);
    vu_state(10, (uint32_t)q, 0);
    struct {
      uint32_t idx, flags;
      uint64_t desc, used, avail, log;
    } a = {(uint32_t)q, 0, (uint64_t)(uintptr_t)(mem + R[q].desc_off), (uint64_t)(uintptr_t)(mem + R[q].used_off),
           (uint64_t)(uintptr_t)(mem + R[q].avail_off), 0};
    vu_send(9, 8, &a, sizeof a, NULL, 0);
    if (vu_reply_u64(9) != 0) fail("SET_VRING_ADDR not acknowledged");
    vu_send(12, 0, &(uint64_t){(uint64_t)q}, 8, &R[q].kick, 1);
    vu_send(13, 0, &(uint64_t){(uint64_t)q}, 8, &R[q].call, 1);
    vu_state(18, (uint32_t)q, 1);
  }
  /* ring addresses outside the memory table: refused (reply-ack 1), the rings in use untouched */
  struct {
    uint32_t idx, flags;
    uint64_t desc, used, avail, log;
  } bad = {1, 0, 0x10, 0x20, 0x30, 0};
  vu_send(9, 8, &bad, sizeof bad, NULL, 0);
  if (vu_reply_u64(9) != 1) fail("SET_VRING_ADDR outside the memory table was accepted");
  struct {
    uint32_t idx, flags;
    uint64_t desc, used, avail, log;
  } again = {1, 0, (uint64_t)(uintptr_t)(mem + R[1].desc_off), (uint64_t)(uintptr_t)(mem + R[1].used_off), (uint64_t)(uintptr_t)(mem + R[1].avail_off), 0};
  vu_send(9, 8, &again, sizeof again, NULL, 0);
  if (vu_reply_u64(9) != 0) fail("SET_VRING_ADDR not acknowledged");
  ok();

  /* the first rx buffer points outside guest memory: refused, the next ones used */
  check = "an rx buffer outside guest memory is skipped";
  D(0)[0] = (struct desc){GPA_BASE + MEM_SIZE - 8, RXBUF + 44, 2, 0};
  publish(0, 0);
  for (int i = 1; i < 8; i++) post_rx(i);

  check = "connect to the parent at CID 3: RESPONSE, data both ways";
  int l = unix_listen(5000);
  struct vhdr h = pkt(3, 1234, 5000, REQUEST, 0);
  send_tx(&h, NULL, 0);
  expect_rx(RESPONSE, 5000, 1234, "no RESPONSE to a REQUEST for CID 3 port 5000");
  int peer = accept_within(l, 3000);
  if (peer < 0) fail("the host listener got no connection");
  h = pkt(3, 1234, 5000, RW, 5);
  send_tx(&h, "hello", 5);
  char got[16] = {0};
  struct pollfd pp = {peer, POLLIN, 0};
  if (poll(&pp, 1, 3000) != 1 || read(peer, got, sizeof got) != 5 || memcmp(got, "hello", 5)) fail("the host did not receive the enclave's bytes");
  if (write(peer, "world!", 6) != 6) fail("write to the backend");
  expect_rx(RW, 5000, 1234, "no RW with the host's bytes");
  if (memcmp(rxdata, "world!", 6)) fail("the enclave received other bytes");
  ok();

  check = "CID 2 is routed too";
  h = pkt(2, 1300, 5000, REQUEST, 0);
  send_tx(&h, NULL, 0);
  expect_rx(RESPONSE, 5000, 1300, "no RESPONSE for CID 2");
  int peer2 = accept_within(l, 3000);
  if (peer2 < 0) fail("no host connection for CID 2");
  h = pkt(2, 1300, 5000, RST, 0);
  send_tx(&h, NULL, 0);
  char c;
  pp.fd = peer2;
  if (poll(&pp, 1, 3000) != 1 || read(peer2, &c, 1) != 0) fail("the guest's RST did not close the host connection");
  ok();

  check = "no listener: RST";
  h = pkt(3, 1235, 5001, REQUEST, 0);
  send_tx(&h, NULL, 0);
  expect_rx(RST, 5001, 1235, "no RST for a port without a listener");
  ok();

  check = "another CID: RST";
  h = pkt(7, 1236, 5000, REQUEST, 0);
  send_tx(&h, NULL, 0);
  expect_rx(RST, 5000, 1236, "no RST for CID 7");
  ok();

  check = "data for an unknown connection: RST";
  h = pkt(3, 999, 5000, RW, 3);
  send_tx(&h, "abc", 3);
  expect_rx(RST, 5000, 999, "no RST for an unknown connection");
  ok();

  check = "a foreign source CID is dropped";
  h = pkt(3, 1237, 5000, REQUEST, 0);
  h.src_cid = guest_cid + 1;
  send_tx(&h, NULL, 0);
  struct vhdr none;
  if (next_rx(&none, 300) == 0) fail("the backend answered a packet with a foreign source CID");
  if (accept_within(l, 100) >= 0) fail("a packet with a foreign source CID reached the host");
  ok();

  check = "malformed chains are consumed, never followed";
  /* a descriptor loop */
  D(1)[10] = (struct desc){gpa(0x30000), 44, 1, 10};
  send_raw_tx(10);
  /* an address outside guest memory */
  D(1)[10] = (struct desc){GPA_BASE + MEM_SIZE, 44, 0, 0};
  send_raw_tx(10);
  /* an address below guest memory, length wrapping */
  D(1)[10] = (struct desc){GPA_BASE - 16, 0xffffffffu, 0, 0};
  send_raw_tx(10);
  /* next beyond the queue */
  D(1)[10] = (struct desc){gpa(0x30000), 44, 1, 200};
  send_raw_tx(10);
  /* an indirect table (not offered) */
  D(1)[10] = (struct desc){gpa(0x30000), 16, 4, 0};
  send_raw_tx(10);
  /* a device-writable descriptor in a tx chain */
  D(1)[10] = (struct desc){gpa(0x30000), 44, 2, 0};
  send_raw_tx(10);
  /* shorter than a header */
  D(1)[10] = (struct desc){gpa(0x30000), 20, 0, 0};
  send_raw_tx(10);
  if (next_rx(&none, 300) == 0) fail("the backend answered a malformed chain");
  ok();

  check = "a length beyond the chain resets that connection";
  h = pkt(3, 1234, 5000, RW, 1000);
  send_tx(&h, "short", 5);
  expect_rx(RST, 5000, 1234, "no RST for a packet longer than its buffers");
  pp.fd = peer;
  if (poll(&pp, 1, 3000) != 1 || read(peer, &c, 1) != 0) fail("the host connection was not closed");
  ok();

  check = "still serving after all that";
  h = pkt(3, 1240, 5000, REQUEST, 0);
  send_tx(&h, NULL, 0);
  expect_rx(RESPONSE, 5000, 1240, "no RESPONSE after the malformed packets");
  int peer3 = accept_within(l, 3000);
  if (peer3 < 0) fail("no host connection");
  /* the guest shuts down both directions: the backend answers RST and closes the host end */
  h = pkt(3, 1240, 5000, SHUTDOWN, 0);
  h.flags = 3;
  send_tx(&h, NULL, 0);
  expect_rx(RST, 5000, 1240, "no RST after the guest's SHUTDOWN");
  pp.fd = peer3;
  if (poll(&pp, 1, 3000) != 1 || read(peer3, &c, 1) != 0) fail("the host connection was not closed after SHUTDOWN");
  ok();

  close(vu); /* QEMU goes away: the backend exits */
  return 0;
}
