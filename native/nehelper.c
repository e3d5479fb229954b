/*
 * eif-nehelper — the enclave process (ne-device.md §2.1 launch order, §5 helper contract).
 *
 *   eif-nehelper run --eif PATH --memory-mib N (--cpu-count N | --cpu-ids 1,3) [--cid N] [--debug]
 *                    [--timeout-ms N] [--state-dir DIR] [--lock PATH] [--meta JSON] [--detach]
 *                    [--device PATH] [--bind-retries N]
 *   eif-nehelper console --cid N [--connect-timeout-ms N] [--disconnect-timeout-ms N]
 *   eif-nehelper abi
 *
 * `run` talks newline-delimited JSON on stdout (events) and reads `terminate` lines on stdin. It alone opens
 * the device, so the driver binds the enclave to this process (§2.3 mm rule); with --detach it forks first and
 * the child setsid()s, so the enclave outlives the caller; the parent stays only until the child is ready, to
 * report a crash of the child. Every exit path releases the enclave fd, the hugepage mappings and all other fds.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <linux/vm_sockets.h>
#include "ne_abi.h"

#ifndef MAP_HUGETLB
#define MAP_HUGETLB 0x40000
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#define MAX_CPUS 256
#define MAX_CLIENTS 8

/* ------------------------------------------------------------------------------------------------ output */

static int out_ok = 1;
static FILE *evout; /* stdout for `run`; stderr for `console`, whose stdout is the console stream */

static void emit(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void emit(const char *fmt, ...) {
  if (!out_ok) return;
  va_list ap;
  va_start(ap, fmt);
  if (!evout) evout = stdout;
  vfprintf(evout, fmt, ap);
  va_end(ap);
  fputc('\n', evout);
  if (fflush(evout) != 0) out_ok = 0;
}

/* JSON string literal of s (truncated to fit) into buf. */
static const char *jstr(char *buf, size_t cap, const char *s) {
  size_t o = 0;
  buf[o++] = '"';
  for (; *s && o + 8 < cap; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') { buf[o++] = '\\'; buf[o++] = (char)c; }
    else if (c < 0x20) o += (size_t)snprintf(buf + o, cap - o, "\\u%04x", c);
    else buf[o++] = (char)c;
  }
  buf[o++] = '"';
  buf[o] = 0;
  return buf;
}

static const char *ename(int e, char *tmp, size_t cap) {
  const char *n = xne_errno_name(e);
  if (n) return n;
  snprintf(tmp, cap, "E%d", e);
  return tmp;
}

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ------------------------------------------------------------------------------------------------ state */

struct region { void *addr; uint64_t size; };

static struct {
  int dev_fd, enc_fd, eif_fd, lock_fd, hb_fd, conn_fd, ctl_fd, sig_fd, ready_fd;
  int clients[MAX_CLIENTS];
  struct region *reg;
  size_t nreg, capreg;
  char sock_path[PATH_MAX], rec_path[PATH_MAX];
} G;

static struct {
  const char *eif, *state_dir, *lock, *meta, *device;
  uint64_t memory_mib, cid, timeout_ms;
  unsigned cpu_count, ncpu_ids, cpu_ids[MAX_CPUS], bind_retries;
  int debug, detach;
} O;

static void close_fd(int *fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

static void release_memory(void) {
  for (size_t i = 0; i < G.nreg; i++) munmap(G.reg[i].addr, G.reg[i].size);
  G.nreg = 0;
  free(G.reg);
  G.reg = NULL;
  G.capreg = 0;
}

/* Idempotent: terminates the enclave (closing its fd, §2.9), then returns the memory and everything else. */
static void cleanup(void) {
  for (int i = 0; i < MAX_CLIENTS; i++) close_fd(&G.clients[i]);
  close_fd(&G.conn_fd);
  close_fd(&G.hb_fd);
  close_fd(&G.enc_fd);
  close_fd(&G.dev_fd);
  release_memory();
  close_fd(&G.eif_fd);
  close_fd(&G.ctl_fd);
  if (G.sock_path[0]) unlink(G.sock_path);
  if (G.rec_path[0]) unlink(G.rec_path);
  G.sock_path[0] = G.rec_path[0] = 0;
  close_fd(&G.lock_fd);
  close_fd(&G.ready_fd);
  close_fd(&G.sig_fd);
}

/* Report an error event and exit after releasing everything. `err` 0 = no errno. */
static void fail(const char *op, const char *code, int err, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 4, 5)));
static void fail(const char *op, const char *code, int err, const char *fmt, ...) {
  char detail[512], jd[1100], tmp[16];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof detail, fmt, ap);
  va_end(ap);
  if (!code) code = ename(err, tmp, sizeof tmp);
  if (err)
    emit("{\"event\":\"error\",\"op\":\"%s\",\"code\":\"%s\",\"errno\":%d,\"detail\":%s}", op, code, err,
         jstr(jd, sizeof jd, detail));
  else
    emit("{\"event\":\"error\",\"op\":\"%s\",\"code\":\"%s\",\"detail\":%s}", op, code, jstr(jd, sizeof jd, detail));
  cleanup();
  exit(1);
}

/* Terminate requested (signal, stdin, control socket) while not yet running. */
static void interrupted(const char *op) __attribute__((noreturn));
static void interrupted(const char *op) {
  emit("{\"event\":\"error\",\"op\":\"%s\",\"code\":\"INTERRUPTED\",\"detail\":\"terminate requested\"}", op);
  cleanup();
  exit(1);
}

/* Wait up to ms for a terminate signal; returns 1 when one arrived. Doubles as an interruptible sleep. */
static int wait_signal(int ms) {
  struct pollfd p = {G.sig_fd, POLLIN, 0};
  if (poll(&p, 1, ms) > 0 && (p.revents & POLLIN)) {
    struct signalfd_siginfo si;
    if (read(G.sig_fd, &si, sizeof si) > 0) return 1;
  }
  return 0;
}

/* ------------------------------------------------------------------------------------------------ args */

static int parse_u64(const char *s, uint64_t *v) {
  char *end;
  errno = 0;
  if (!s || !*s || *s == '-') return -1;
  unsigned long long x = strtoull(s, &end, 0);
  if (errno || *end) return -1;
  *v = x;
  return 0;
}

static void usage(const char *msg) __attribute__((noreturn));
static void usage(const char *msg) {
  char j[600];
  emit("{\"event\":\"error\",\"op\":\"args\",\"code\":\"USAGE\",\"detail\":%s}", jstr(j, sizeof j, msg));
  exit(2);
}

static void parse_cpu_ids(const char *s) {
  while (*s) {
    char *end;
    errno = 0;
    unsigned long a = strtoul(s, &end, 10), b = a;
    if (errno || end == s) usage("bad --cpu-ids");
    if (*end == '-') {
      s = end + 1;
      b = strtoul(s, &end, 10);
      if (errno || end == s || b < a) usage("bad --cpu-ids range");
    }
    for (unsigned long c = a; c <= b; c++) {
      if (O.ncpu_ids >= MAX_CPUS) usage("too many --cpu-ids");
      O.cpu_ids[O.ncpu_ids++] = (unsigned)c;
    }
    s = end;
    if (*s == ',') s++;
    else if (*s) usage("bad --cpu-ids");
  }
}

static void parse_run_args(int argc, char **argv) {
  uint64_t v;
  O.timeout_ms = 180000;
  O.bind_retries = 5;
  O.device = "/dev/nitro_enclaves";
  O.meta = "null";
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--debug")) { O.debug = 1; continue; }
    if (!strcmp(a, "--detach")) { O.detach = 1; continue; }
    if (!val) usage("option needs a value");
    i++;
    if (!strcmp(a, "--eif")) O.eif = val;
    else if (!strcmp(a, "--state-dir")) O.state_dir = val;
    else if (!strcmp(a, "--lock")) O.lock = val;
    else if (!strcmp(a, "--meta")) O.meta = val;
    else if (!strcmp(a, "--device")) O.device = val;
    else if (!strcmp(a, "--cpu-ids")) parse_cpu_ids(val);
    else if (parse_u64(val, &v)) usage("bad number");
    else if (!strcmp(a, "--memory-mib")) O.memory_mib = v;
    else if (!strcmp(a, "--cpu-count")) O.cpu_count = v > MAX_CPUS ? MAX_CPUS + 1 : (unsigned)v;
    else if (!strcmp(a, "--cid")) O.cid = v;
    else if (!strcmp(a, "--timeout-ms")) O.timeout_ms = v;
    else if (!strcmp(a, "--bind-retries")) O.bind_retries = v > 20 ? 20 : (unsigned)v;
    else usage("unknown option");
  }
  if (!O.eif) usage("--eif is required");
  if (O.memory_mib == 0 || O.memory_mib > (1ULL << 30)) usage("--memory-mib must be 1..2^30");
  if ((O.cpu_count == 0) == (O.ncpu_ids == 0)) usage("give exactly one of --cpu-count and --cpu-ids");
  if (O.cpu_count > MAX_CPUS) usage("--cpu-count too large");
  if (O.timeout_ms == 0 || O.timeout_ms > 86400000ULL) usage("--timeout-ms out of range");
}

/* ------------------------------------------------------------------------------------------------ memory (§2.2) */

static const unsigned huge_shifts[] = {34, 31, 30, 29, 28, 25, 24, 23, 21}; /* 16G .. 2M, largest first */
#define NSHIFTS (sizeof huge_shifts / sizeof huge_shifts[0])

/* Map one hugepage of 2^shift bytes; 0 on success, -1 = none of that size free, or fails the launch. */
static int map_one(unsigned shift) {
  uint64_t size = 1ULL << shift;
  void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | (int)(shift << 26), -1, 0);
  if (p == MAP_FAILED) return -1; /* ENOMEM: no free page of that size; EINVAL: size not supported */
  if (G.nreg == G.capreg) {
    size_t cap = G.capreg ? G.capreg * 2 : 16;
    struct region *r = realloc(G.reg, cap * sizeof *r);
    if (!r) {
      munmap(p, size);
      fail("allocate", "ENOMEM", ENOMEM, "out of memory for the region table");
    }
    G.reg = r;
    G.capreg = cap;
  }
  G.reg[G.nreg].addr = p;
  G.reg[G.nreg].size = size;
  G.nreg++;
  madvise(p, size, MADV_DONTDUMP); /* the memory becomes the enclave's; never in a core dump */
  if (madvise(p, size, MADV_POPULATE_WRITE) != 0 && errno != EINVAL) {
    int e = errno;
    fail("allocate", "HUGEPAGES_NOT_ACCESSIBLE", e,
         "a %llu MiB hugepage was mapped but cannot be faulted in (%s): hugepages are not accessible in this "
         "container/cgroup (hugetlb limit 0?)", (unsigned long long)(size >> 20), strerror(e));
  }
  return 0;
}

static int cmp_region_desc(const void *a, const void *b) {
  const struct region *x = a, *y = b;
  return x->size < y->size ? 1 : x->size > y->size ? -1 : (x->addr < y->addr ? -1 : x->addr > y->addr);
}

/* nitro-cli's algorithm: largest sizes first while they fit, then smallest-first for the rest, then sort by
 * size descending and drop surplus smallest regions. */
static void allocate_memory(uint64_t need) {
  uint64_t remaining = need;
  for (size_t i = 0; i < NSHIFTS && remaining; i++)
    while (remaining >= (1ULL << huge_shifts[i]) && map_one(huge_shifts[i]) == 0) remaining -= 1ULL << huge_shifts[i];
  for (size_t i = NSHIFTS; i-- > 0 && remaining;)
    while (remaining && map_one(huge_shifts[i]) == 0)
      remaining = remaining > (1ULL << huge_shifts[i]) ? remaining - (1ULL << huge_shifts[i]) : 0;
  if (remaining)
    fail("allocate", "HUGEPAGES_INSUFFICIENT", ENOMEM,
         "could not allocate the entire memory: %llu MiB of %llu MiB remained (not enough free hugepages)",
         (unsigned long long)(remaining >> 20), (unsigned long long)(need >> 20));
  qsort(G.reg, G.nreg, sizeof *G.reg, cmp_region_desc);
  uint64_t total = 0;
  for (size_t i = 0; i < G.nreg; i++) total += G.reg[i].size;
  while (G.nreg > 1 && total - G.reg[G.nreg - 1].size >= need) {
    total -= G.reg[G.nreg - 1].size;
    munmap(G.reg[G.nreg - 1].addr, G.reg[G.nreg - 1].size);
    G.nreg--;
  }
}

/* §2.7: copy the EIF into the regions so that it starts at byte `offset` of enclave memory. */
static void write_eif(uint64_t offset, uint64_t eif_size) {
  uint64_t covered = 0, written = 0;
  for (size_t i = 0; i < G.nreg && written < eif_size; i++) {
    uint64_t size = G.reg[i].size;
    if (covered + size <= offset) { covered += size; continue; }
    uint64_t in = covered >= offset ? 0 : offset - covered;
    uint64_t n = size - in < eif_size - written ? size - in : eif_size - written;
    char *dst = (char *)G.reg[i].addr + in;
    while (n > 0) {
      size_t chunk = n > (1u << 30) ? (1u << 30) : (size_t)n;
      ssize_t r = pread(G.eif_fd, dst, chunk, (off_t)written);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0 && errno == EFAULT)
        fail("load", "HUGEPAGES_NOT_ACCESSIBLE", EFAULT, "copying the EIF into hugepage memory failed (EFAULT): "
             "hugepages are not accessible in this container/cgroup");
      if (r < 0) fail("load", "EIF_READ", errno, "reading %s: %s", O.eif, strerror(errno));
      if (r == 0) fail("load", "EIF_READ", 0, "%s became shorter while loading it", O.eif);
      dst += r;
      n -= (uint64_t)r;
      written += (uint64_t)r;
    }
    covered += size;
  }
  if (written < eif_size)
    fail("load", "EIF_TOO_LARGE", 0, "the EIF (%llu bytes) does not fit in the enclave memory after the %llu MiB "
         "load offset", (unsigned long long)eif_size, (unsigned long long)(offset >> 20));
}

/* ------------------------------------------------------------------------------------------------ ioctls */

static void ioctl_fail(const char *op, int e) __attribute__((noreturn));
static void ioctl_fail(const char *op, int e) {
  fail(op, NULL, e, "%s failed: %s", op,
       e >= XNE_ERR_FIRST && e <= XNE_ERR_LAST ? xne_err_names[e - XNE_ERR_FIRST] : strerror(e));
}

static int xioctl(int fd, unsigned long req, void *arg) {
  int r;
  do r = ioctl(fd, req, arg); while (r < 0 && errno == EINTR);
  return r;
}

/* ------------------------------------------------------------------------------------------------ heartbeat */

static void take_lock(uint64_t deadline) {
  char path[PATH_MAX];
  if (O.lock) snprintf(path, sizeof path, "%s", O.lock);
  else if (O.state_dir) snprintf(path, sizeof path, "%s/heartbeat.lock", O.state_dir);
  else return;
  G.lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (G.lock_fd < 0) fail("lock", "LOCK_OPEN", errno, "cannot open the launch lock %s: %s", path, strerror(errno));
  int announced = 0;
  while (flock(G.lock_fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK && errno != EINTR) fail("lock", "LOCK_OPEN", errno, "flock %s: %s", path, strerror(errno));
    if (!announced) { emit("{\"event\":\"progress\",\"step\":\"waiting-for-launch-lock\"}"); announced = 1; }
    if (now_ms() > deadline)
      fail("lock", "LAUNCH_LOCK_TIMEOUT", 0, "another launch held the heartbeat port lock %s for too long", path);
    if (wait_signal(50)) interrupted("lock");
  }
}

/* §2.1 step 8: listen on CID 3 port 9000 before starting; retry on EADDRINUSE (another launcher). */
static void bind_heartbeat(void) {
  unsigned delay = 100;
  for (unsigned attempt = 0;; attempt++) {
    G.hb_fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (G.hb_fd < 0) fail("heartbeat-bind", "HEARTBEAT_BIND", errno, "vsock socket: %s", strerror(errno));
    struct sockaddr_vm a;
    memset(&a, 0, sizeof a);
    a.svm_family = AF_VSOCK;
    a.svm_cid = XNE_PARENT_CID;
    a.svm_port = XNE_HEARTBEAT_PORT;
    if (bind(G.hb_fd, (struct sockaddr *)&a, sizeof a) == 0 && listen(G.hb_fd, 1) == 0) return;
    int e = errno;
    close_fd(&G.hb_fd);
    if (e != EADDRINUSE || attempt >= O.bind_retries)
      fail("heartbeat-bind", "HEARTBEAT_BIND", e, "cannot listen on vsock %u:%u for the boot heartbeat: %s%s",
           XNE_PARENT_CID, XNE_HEARTBEAT_PORT, strerror(e),
           e == EADDRINUSE ? " (another enclave launch, e.g. nitro-cli, holds the port)" : "");
    if (wait_signal((int)delay)) interrupted("heartbeat-bind");
    delay *= 2;
  }
}

/* §2.1 step 10 plus the improvement: also watch the enclave fd, so a dead enclave fails at once. */
static void heartbeat(uint64_t deadline) {
  struct pollfd p[3] = {{G.hb_fd, POLLIN, 0}, {G.enc_fd, POLLIN, 0}, {G.sig_fd, POLLIN, 0}};
  unsigned char b = 0;
  for (int phase = 0; phase < 2;) {
    uint64_t t = now_ms();
    if (t >= deadline)
      fail("heartbeat", "HEARTBEAT_TIMEOUT", 0, "no boot heartbeat from the enclave within %llu s",
           (unsigned long long)(O.timeout_ms / 1000));
    p[0].fd = phase == 0 ? G.hb_fd : G.conn_fd;
    int n = poll(p, 3, (int)(deadline - t > 1000000 ? 1000000 : deadline - t));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail("heartbeat", "HEARTBEAT_POLL", errno, "poll: %s", strerror(errno));
    if (p[1].revents & (POLLHUP | POLLERR))
      fail("heartbeat", "ENCLAVE_EXITED_DURING_BOOT", 0, "the enclave exited during boot, before its heartbeat");
    if (p[2].revents & POLLIN) interrupted("heartbeat");
    if (!(p[0].revents & (POLLIN | POLLHUP | POLLERR))) continue;
    if (phase == 0) {
      G.conn_fd = accept4(G.hb_fd, NULL, NULL, SOCK_CLOEXEC);
      if (G.conn_fd < 0) {
        if (errno == EINTR || errno == EAGAIN || errno == ECONNABORTED) continue;
        fail("heartbeat", "HEARTBEAT_RECEIVE", errno, "accept: %s", strerror(errno));
      }
      phase = 1;
      continue;
    }
    ssize_t r = read(G.conn_fd, &b, 1);
    if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (r < 0) fail("heartbeat", "HEARTBEAT_RECEIVE", errno, "reading the heartbeat: %s", strerror(errno));
    if (r == 0)
      fail("heartbeat", "HEARTBEAT_CLOSED", 0, "the enclave closed the heartbeat connection without sending a byte");
    phase = 2;
  }
  if (b != XNE_HEARTBEAT_BYTE)
    fail("heartbeat", "HEARTBEAT_WRONG_BYTE", 0, "the enclave sent 0x%02X instead of the heartbeat byte 0xB7", b);
  if (send(G.conn_fd, &b, 1, MSG_NOSIGNAL) != 1)
    fail("heartbeat", "HEARTBEAT_RECEIVE", errno, "echoing the heartbeat: %s", strerror(errno));
  close_fd(&G.conn_fd);
  close_fd(&G.hb_fd);
  close_fd(&G.lock_fd); /* releases the flock: the next launch may bind the port */
}

/* ------------------------------------------------------------------------------------------------ running */

static void write_record(const char *slot_hex, uint64_t cid, const unsigned *cpus, unsigned ncpus, uint64_t mib) {
  char tmp[PATH_MAX];
  if (snprintf(G.rec_path, sizeof G.rec_path, "%s/%s.json", O.state_dir, slot_hex) >= (int)sizeof G.rec_path ||
      snprintf(tmp, sizeof tmp, "%s/.%s.json.tmp", O.state_dir, slot_hex) >= (int)sizeof tmp)
    fail("record", "STATE_DIR", ENAMETOOLONG, "state folder path too long");
  FILE *f = fopen(tmp, "we");
  if (!f) {
    G.rec_path[0] = 0;
    fail("record", "STATE_DIR", errno, "cannot write %s: %s", tmp, strerror(errno));
  }
  fprintf(f, "{\"slotUid\":\"%s\",\"pid\":%d,\"cid\":%llu,\"cpuIds\":[", slot_hex, (int)getpid(), (unsigned long long)cid);
  for (unsigned i = 0; i < ncpus; i++) fprintf(f, "%s%u", i ? "," : "", cpus[i]);
  fprintf(f, "],\"memoryMiB\":%llu,\"debug\":%s,\"socket\":\"%s.sock\",\"meta\":%s}\n", (unsigned long long)mib,
          O.debug ? "true" : "false", slot_hex, O.meta);
  if (fclose(f) != 0 || rename(tmp, G.rec_path) != 0) {
    int e = errno;
    unlink(tmp);
    G.rec_path[0] = 0;
    fail("record", "STATE_DIR", e, "cannot write the enclave record: %s", strerror(e));
  }
}

static void open_control_socket(const char *slot_hex) {
  struct sockaddr_un a;
  memset(&a, 0, sizeof a);
  a.sun_family = AF_UNIX;
  if (snprintf(a.sun_path, sizeof a.sun_path, "%s/%s.sock", O.state_dir, slot_hex) >= (int)sizeof a.sun_path)
    fail("control", "STATE_DIR", ENAMETOOLONG, "state folder path too long for a unix socket (max ~100 chars)");
  unlink(a.sun_path);
  G.ctl_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (G.ctl_fd < 0) fail("control", "STATE_DIR", errno, "socket: %s", strerror(errno));
  if (bind(G.ctl_fd, (struct sockaddr *)&a, sizeof a) != 0)
    fail("control", "STATE_DIR", errno, "cannot create %s: %s", a.sun_path, strerror(errno));
  snprintf(G.sock_path, sizeof G.sock_path, "%s", a.sun_path);
  chmod(G.sock_path, 0600);
  if (listen(G.ctl_fd, 4) != 0) fail("control", "STATE_DIR", errno, "listen: %s", strerror(errno));
}

static void reply(int fd, const char *s) {
  if (fd >= 0) (void)!send(fd, s, strlen(s), MSG_NOSIGNAL | MSG_DONTWAIT);
}

static void terminate_now(int requester) __attribute__((noreturn));
static void terminate_now(int requester) {
  emit("{\"event\":\"terminating\"}");
  close_fd(&G.enc_fd); /* ENCLAVE_STOP + SLOT_FREE in the driver, synchronously */
  release_memory();
  if (G.rec_path[0]) unlink(G.rec_path);
  if (G.sock_path[0]) unlink(G.sock_path);
  G.rec_path[0] = G.sock_path[0] = 0;
  reply(requester, "{\"terminated\":true}\n");
  emit("{\"event\":\"terminated\"}");
  cleanup();
  exit(0);
}

static void run_loop(int attached, const char *slot_hex, uint64_t cid, uint64_t mib) {
  char line[256];
  size_t llen = 0;
  for (;;) {
    struct pollfd p[4 + MAX_CLIENTS];
    int n = 0;
    p[n++] = (struct pollfd){G.enc_fd, POLLIN, 0};
    p[n++] = (struct pollfd){G.sig_fd, POLLIN, 0};
    p[n++] = (struct pollfd){G.ctl_fd, POLLIN, 0};
    p[n++] = (struct pollfd){attached ? 0 : -1, POLLIN, 0};
    for (int i = 0; i < MAX_CLIENTS; i++) p[n++] = (struct pollfd){G.clients[i], POLLIN, 0};
    if (poll(p, (nfds_t)n, -1) < 0) {
      if (errno == EINTR) continue;
      fail("run", "POLL", errno, "poll: %s", strerror(errno));
    }
    if (p[0].revents & (POLLHUP | POLLERR)) {
      emit("{\"event\":\"exited\",\"reason\":\"the enclave exited or crashed (POLLHUP on the enclave fd)\"}");
      cleanup();
      exit(0);
    }
    if (p[1].revents & POLLIN) terminate_now(-1);
    if (p[2].revents & POLLIN) {
      int c = accept4(G.ctl_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
      int placed = 0;
      for (int i = 0; c >= 0 && i < MAX_CLIENTS && !placed; i++)
        if (G.clients[i] < 0) { G.clients[i] = c; placed = 1; }
      if (c >= 0 && !placed) close(c);
    }
    if (p[3].revents & (POLLIN | POLLHUP)) {
      ssize_t r = read(0, line + llen, sizeof line - 1 - llen);
      if (r <= 0) terminate_now(-1); /* caller went away: an attached enclave dies with it */
      llen += (size_t)r;
      line[llen] = 0;
      if (strstr(line, "terminate")) terminate_now(-1);
      if (strchr(line, '\n') || llen >= sizeof line - 1) llen = 0;
    }
    for (int i = 0; i < MAX_CLIENTS; i++) {
      if (G.clients[i] < 0 || !(p[4 + i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char req[128];
      ssize_t r = recv(G.clients[i], req, sizeof req - 1, 0);
      if (r <= 0) { close_fd(&G.clients[i]); continue; }
      req[r] = 0;
      if (strstr(req, "terminate")) terminate_now(G.clients[i]);
      if (strstr(req, "describe")) {
        char buf[256];
        snprintf(buf, sizeof buf, "{\"state\":\"RUNNING\",\"pid\":%d,\"slotUid\":\"%s\",\"cid\":%llu,\"memoryMiB\":%llu}\n",
                 (int)getpid(), slot_hex, (unsigned long long)cid, (unsigned long long)mib);
        reply(G.clients[i], buf);
      }
      close_fd(&G.clients[i]);
    }
  }
}

/* ------------------------------------------------------------------------------------------------ run */

static void setup_signals(void) {
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGTERM);
  sigaddset(&s, SIGINT);
  if (!O.detach) sigaddset(&s, SIGHUP);
  sigprocmask(SIG_BLOCK, &s, NULL);
  G.sig_fd = signalfd(-1, &s, SFD_CLOEXEC | SFD_NONBLOCK);
  if (G.sig_fd < 0) fail("setup", "SETUP", errno, "signalfd: %s", strerror(errno));
}

/* The name of a signal without "SIG", or NULL. Our own table: sigabbrev_np() needs glibc 2.32 (Amazon Linux 2 has
 * 2.26) and musl has none, and the helper is compiled on the user's machine. */
static const char *signal_name(int sig) {
  static const struct { int sig; const char *name; } names[] = {
    {SIGHUP, "HUP"}, {SIGINT, "INT"}, {SIGQUIT, "QUIT"}, {SIGILL, "ILL"}, {SIGTRAP, "TRAP"}, {SIGABRT, "ABRT"},
    {SIGBUS, "BUS"}, {SIGFPE, "FPE"}, {SIGKILL, "KILL"}, {SIGUSR1, "USR1"}, {SIGSEGV, "SEGV"}, {SIGUSR2, "USR2"},
    {SIGPIPE, "PIPE"}, {SIGALRM, "ALRM"}, {SIGTERM, "TERM"}, {SIGXCPU, "XCPU"}, {SIGXFSZ, "XFSZ"}, {SIGSYS, "SYS"},
  };
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (names[i].sig == sig) return names[i].name;
  return NULL;
}

/* --detach: fork before anything touches the device. The parent relays a crash of the child and exits once the
 * child reports ready (byte on a pipe) or ends. */
static void detach(void) {
  int pfd[2];
  if (pipe2(pfd, O_CLOEXEC) != 0) fail("detach", "SETUP", errno, "pipe: %s", strerror(errno));
  pid_t child = fork();
  if (child < 0) fail("detach", "SETUP", errno, "fork: %s", strerror(errno));
  if (child == 0) {
    close(pfd[0]);
    G.ready_fd = pfd[1];
    setsid();
    return;
  }
  close(pfd[1]);
  char c;
  ssize_t r;
  do r = read(pfd[0], &c, 1); while (r < 0 && errno == EINTR);
  close(pfd[0]);
  if (r == 1) exit(0);
  int st = 0;
  if (waitpid(child, &st, 0) < 0) exit(1);
  if (WIFSIGNALED(st)) {
    const char *sn = signal_name(WTERMSIG(st));
    emit("{\"event\":\"error\",\"op\":\"helper\",\"code\":\"HELPER_CRASHED\",\"signal\":\"SIG%s\",\"pid\":%d,"
         "\"detail\":\"the enclave process %d was killed by signal SIG%s\"}",
         sn ? sn : "?", (int)child, (int)child, sn ? sn : "?");
    exit(1);
  }
  exit(WIFEXITED(st) ? WEXITSTATUS(st) : 1);
}

/* What one launch has learnt so far, passed from step to step. */
struct launch {
  uint64_t eif_size, total, cid;
  char slot_hex[24];
  unsigned cpus[MAX_CPUS], ncpus;
};

/* Before anything else: detach (or die with the caller), signals, no core dumps, then `hello`. */
static void prepare_process(void) {
  if (O.detach) detach();
  else prctl(PR_SET_PDEATHSIG, SIGTERM); /* attached: the enclave dies with its caller */
  setup_signals();
  struct rlimit nocore = {0, 0};
  setrlimit(RLIMIT_CORE, &nocore); /* enclave memory must never land in a core file (§2.2) */
  emit("{\"event\":\"hello\",\"pid\":%d}", (int)getpid());
}

static void open_eif(struct launch *l) {
  G.eif_fd = open(O.eif, O_RDONLY | O_CLOEXEC);
  if (G.eif_fd < 0) fail("open-eif", "EIF_READ", errno, "cannot open %s: %s", O.eif, strerror(errno));
  struct stat st;
  if (fstat(G.eif_fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0)
    fail("open-eif", "EIF_READ", 0, "%s is not a non-empty regular file", O.eif);
  l->eif_size = (uint64_t)st.st_size;
}

/* §2.1 steps 1-2: the device fd is closed once the enclave fd exists. */
static void create_enclave(struct launch *l) {
  G.dev_fd = open(O.device, O_RDWR | O_CLOEXEC);
  if (G.dev_fd < 0) {
    int e = errno;
    fail("open-device", NULL, e, "cannot open %s: %s", O.device, strerror(e));
  }
  uint64_t slot_uid = 0;
  int efd = ioctl(G.dev_fd, XNE_CREATE_VM, &slot_uid);
  if (efd < 0) ioctl_fail("NE_CREATE_VM", errno);
  G.enc_fd = efd;
  close_fd(&G.dev_fd);
  snprintf(l->slot_hex, sizeof l->slot_hex, "%llx", (unsigned long long)slot_uid);
  emit("{\"event\":\"created\",\"slotUid\":\"%s\"}", l->slot_hex);
}

/* step 3: the request rounded up to the 2 MiB granule, then `allocated` with what the pages gave. */
static void allocate_enclave_memory(struct launch *l) {
  uint64_t need = (O.memory_mib * XNE_MIB + XNE_REGION_GRANULE - 1) / XNE_REGION_GRANULE * XNE_REGION_GRANULE;
  allocate_memory(need);
  char sizes[4096];
  size_t so = 0;
  l->total = 0;
  for (size_t i = 0; i < G.nreg; i++) {
    l->total += G.reg[i].size;
    if (so + 24 < sizeof sizes) so += (size_t)snprintf(sizes + so, sizeof sizes - so, "%s%llu", i ? "," : "", (unsigned long long)(G.reg[i].size >> 20));
  }
  sizes[so] = 0;
  emit("{\"event\":\"allocated\",\"memoryMiB\":%llu,\"regionCount\":%zu,\"regionsMiB\":[%s]}",
       (unsigned long long)(l->total >> 20), G.nreg, sizes);
}

/* steps 4-5: the EIF into the regions from the offset the driver reports (§2.7). */
static void load_eif(const struct launch *l) {
  struct xne_image_load_info li = {XNE_EIF_IMAGE, 0};
  if (xioctl(G.enc_fd, XNE_GET_IMAGE_LOAD_INFO, &li) < 0) ioctl_fail("NE_GET_IMAGE_LOAD_INFO", errno);
  if (li.memory_offset > l->total || l->eif_size > l->total - li.memory_offset)
    fail("load", "EIF_TOO_LARGE", 0, "the EIF (%llu bytes) does not fit in %llu MiB after the %llu MiB load offset",
         (unsigned long long)l->eif_size, (unsigned long long)(l->total >> 20), (unsigned long long)(li.memory_offset >> 20));
  write_eif(li.memory_offset, l->eif_size);
  close_fd(&G.eif_fd);
}

/* step 6, in the same order as the copy */
static void hand_over_memory(void) {
  for (size_t i = 0; i < G.nreg; i++) {
    struct xne_user_memory_region mr = {0, G.reg[i].size, (uint64_t)(uintptr_t)G.reg[i].addr};
    if (xioctl(G.enc_fd, XNE_SET_USER_MEMORY_REGION, &mr) < 0) ioctl_fail("NE_SET_USER_MEMORY_REGION", errno);
  }
  if (wait_signal(0)) interrupted("memory");
}

/* step 7: 0 = a CPU from the pool (the driver returns its id), or the explicit ids. */
static void add_vcpus(struct launch *l) {
  l->ncpus = O.cpu_count ? O.cpu_count : O.ncpu_ids;
  for (unsigned i = 0; i < l->ncpus; i++) {
    uint32_t id = O.cpu_count ? 0 : O.cpu_ids[i];
    if (xioctl(G.enc_fd, XNE_ADD_VCPU, &id) < 0) ioctl_fail("NE_ADD_VCPU", errno);
    l->cpus[i] = id;
  }
}

/* steps 8-10 under the host-wide launch lock: listen, start, `started`, wait for the heartbeat. */
static void start_enclave(struct launch *l) {
  take_lock(now_ms() + O.timeout_ms + 10000);
  bind_heartbeat();
  struct xne_enclave_start_info si = {O.debug ? XNE_ENCLAVE_DEBUG_MODE : 0, O.cid};
  if (xioctl(G.enc_fd, XNE_START_ENCLAVE, &si) < 0) ioctl_fail("NE_START_ENCLAVE", errno);
  l->cid = si.enclave_cid;
  char ids[MAX_CPUS * 5 + 8];
  size_t io = 0;
  for (unsigned i = 0; i < l->ncpus; i++) io += (size_t)snprintf(ids + io, sizeof ids - io, "%s%u", i ? "," : "", l->cpus[i]);
  ids[io] = 0;
  emit("{\"event\":\"started\",\"slotUid\":\"%s\",\"cid\":%llu,\"cpuIds\":[%s],\"memoryMiB\":%llu,\"debug\":%s}",
       l->slot_hex, (unsigned long long)l->cid, ids, (unsigned long long)(l->total >> 20), O.debug ? "true" : "false");
  heartbeat(now_ms() + O.timeout_ms);
}

/* step 11: control socket and record, `ready`; a detached process then lets go of the caller's stdio. */
static void announce_ready(const struct launch *l) {
  if (O.state_dir) {
    open_control_socket(l->slot_hex);
    write_record(l->slot_hex, l->cid, l->cpus, l->ncpus, l->total >> 20);
  }
  emit("{\"event\":\"ready\",\"slotUid\":\"%s\",\"pid\":%d}", l->slot_hex, (int)getpid());
  if (!O.detach) return;
  int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (nul >= 0) {
    dup2(nul, 0);
    dup2(nul, 1);
    dup2(nul, 2);
    close(nul);
  }
  out_ok = 0;
  if (G.ready_fd >= 0) (void)!write(G.ready_fd, "R", 1);
  close_fd(&G.ready_fd);
}

/* nitro-cli's launch order (§2.1), one step per function; every failure exits through fail() and cleanup(). */
static int cmd_run(int argc, char **argv) {
  static struct launch l;
  parse_run_args(argc, argv);
  prepare_process();
  open_eif(&l);
  create_enclave(&l);
  allocate_enclave_memory(&l);
  load_eif(&l);
  hand_over_memory();
  add_vcpus(&l);
  start_enclave(&l);
  announce_ready(&l);
  run_loop(!O.detach, l.slot_hex, l.cid, l.total >> 20);
  return 0;
}

/* ------------------------------------------------------------------------------------------------ console (§2.10) */

static int cmd_console(int argc, char **argv) {
  uint64_t cid = 0, cto = 20000, dto = 0, v;
  int have_cid = 0;
  evout = stderr;
  for (int i = 2; i + 1 < argc; i += 2) {
    if (parse_u64(argv[i + 1], &v)) usage("bad number");
    if (!strcmp(argv[i], "--cid")) { cid = v; have_cid = 1; }
    else if (!strcmp(argv[i], "--connect-timeout-ms")) cto = v;
    else if (!strcmp(argv[i], "--disconnect-timeout-ms")) dto = v;
    else usage("unknown option");
  }
  if (!have_cid || cid < 4 || cid + XNE_CONSOLE_PORT_BASE > 0xFFFFFFFFULL) usage("--cid must be an enclave CID");
  signal(SIGPIPE, SIG_IGN);
  int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fail("console", NULL, errno, "vsock socket: %s", strerror(errno));
  struct timeval tv = {(time_t)(cto / 1000), (suseconds_t)(cto % 1000) * 1000};
  setsockopt(fd, AF_VSOCK, SO_VM_SOCKETS_CONNECT_TIMEOUT, &tv, sizeof tv);
  struct sockaddr_vm a;
  memset(&a, 0, sizeof a);
  a.svm_family = AF_VSOCK;
  a.svm_cid = VMADDR_CID_HYPERVISOR;
  a.svm_port = (unsigned)(cid + XNE_CONSOLE_PORT_BASE);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    int e = errno;
    close(fd);
    fail("console", NULL, e, "cannot connect to the console of enclave CID %llu (vsock 0:%u): %s",
         (unsigned long long)cid, a.svm_port, strerror(e));
  }
  uint64_t end = dto ? now_ms() + dto : 0;
  char buf[1024];
  for (;;) {
    struct pollfd p = {fd, POLLIN, 0};
    int ms = -1;
    if (end) {
      uint64_t t = now_ms();
      if (t >= end) break;
      ms = (int)(end - t);
    }
    int n = poll(&p, 1, ms);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    ssize_t r = read(fd, buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    for (ssize_t o = 0; o < r;) {
      ssize_t w = write(1, buf + o, (size_t)(r - o));
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) { close(fd); return 0; }
      o += w;
    }
  }
  close(fd);
  return 0;
}

/* ABI facts, for the TS side's cross-check with ne-device.md §1. */
static int cmd_abi(void) {
  printf("{\"NE_CREATE_VM\":%lu,\"NE_ADD_VCPU\":%lu,\"NE_GET_IMAGE_LOAD_INFO\":%lu,\"NE_SET_USER_MEMORY_REGION\":%lu,"
         "\"NE_START_ENCLAVE\":%lu,\"sizes\":[%zu,%zu,%zu],\"errors\":{",
         (unsigned long)XNE_CREATE_VM, (unsigned long)XNE_ADD_VCPU, (unsigned long)XNE_GET_IMAGE_LOAD_INFO,
         (unsigned long)XNE_SET_USER_MEMORY_REGION, (unsigned long)XNE_START_ENCLAVE,
         sizeof(struct xne_image_load_info), sizeof(struct xne_user_memory_region), sizeof(struct xne_enclave_start_info));
  for (int e = XNE_ERR_FIRST; e <= XNE_ERR_LAST; e++)
    printf("%s\"%d\":\"%s\"", e == XNE_ERR_FIRST ? "" : ",", e, xne_err_names[e - XNE_ERR_FIRST]);
  printf("}}\n");
  return 0;
}

int main(int argc, char **argv) {
  G.dev_fd = G.enc_fd = G.eif_fd = G.lock_fd = G.hb_fd = G.conn_fd = G.ctl_fd = G.sig_fd = G.ready_fd = -1;
  for (int i = 0; i < MAX_CLIENTS; i++) G.clients[i] = -1;
  signal(SIGPIPE, SIG_IGN);
  if (argc >= 2 && !strcmp(argv[1], "run")) return cmd_run(argc, argv);
  if (argc >= 2 && !strcmp(argv[1], "console")) return cmd_console(argc, argv);
  if (argc >= 2 && !strcmp(argv[1], "abi")) return cmd_abi();
  usage("usage: eif-nehelper run|console|abi ...");
}
