/*
 * libnesim.so — a Nitro Enclaves driver simulator for tests, LD_PRELOAD-ed into the unmodified helper
 * (ne-device.md §6.2). It mirrors the driver's checks of §2.3–§2.8 in the same order with the same errno values,
 * makes the enclave fd a pipe (so the caller's poll sees a real POLLHUP when the simulated enclave "exits"),
 * redirects AF_VSOCK to abstract AF_UNIX sockets, plays the enclave's heartbeat/console from a thread, and can
 * emulate hugepages on machines that have none reserved.
 *
 * Environment (all optional):
 *   NESIM_DEVICE      path treated as /dev/nitro_enclaves (default that; opened for real when it exists,
 *                     else /dev/null stands in)
 *   NESIM_STATE_DIR   folder for cross-process pool/CID accounting (file `slots`, flock-ed)
 *   NESIM_NS          namespace of the vsock redirection (abstract names "nesim-vsock:NS:CID:PORT")
 *   NESIM_CPUS=8 NESIM_TPC=2 NESIM_POOL=1-3,5-7   topology: cpu c is a thread of core c % (CPUS/TPC)
 *   NESIM_POOL_NODE=0 NESIM_MEM_NODE=0            NUMA node of the pool / of all memory
 *   NESIM_MAX_REGIONS=128                         hypervisor's per-enclave memory region limit
 *   NESIM_HUGEPAGES=2M:64,32M:2                   emulate hugepages (counts per size); unset = real hugetlb
 *   NESIM_SCENARIO=ok|silent|wrong|close|exit     what the enclave does after start (default ok)
 *   NESIM_BYTE=0x42 (wrong)  NESIM_BOOT_MS=10  NESIM_EXIT_MS (exit: at, ok: exit later)
 *   NESIM_INJECT=op:ERR[@n],...   device error at op's PCI step (op: open create_vm add_vcpu
 *                     get_image_load_info set_mem start populate), ERR a name or number, @n = n-th call only
 *   NESIM_CRASH=op    raise SIGSEGV in op;  NESIM_HANG=op  block forever in op
 *   NESIM_DUMP=FILE NESIM_DUMP_LEN=N   at start, write enclave memory [8 MiB, 8 MiB+N) to FILE
 *   NESIM_REPORT=FILE  append JSON lines: start, heartbeat, and at exit the resources still held (leaks)
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <linux/vm_sockets.h>
#include "ne_abi.h"

#ifndef MAP_HUGETLB
#define MAP_HUGETLB 0x40000
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#define EXPORT __attribute__((visibility("default")))
#define MAXFD 4096
#define MAXSLOTS 16
#define MAXMAPS 4096
#define MAXENTRIES 64
#define USER_TOP 0x7ffffffff000ULL

enum { K_NONE, K_DEVICE, K_ENCLAVE, K_VSOCK };
enum { ST_INIT = 0, ST_RUNNING = 2, ST_STOPPED = 0xFFFF };

struct chunk { uint64_t addr, size; };
struct slot {
  int used, fd, wfd, state, console_fd;
  uint64_t uid, cid, flags, vcpus, cores, mem_size;
  pid_t creator;
  struct chunk *chunks;
  unsigned nchunks;
  struct { uint64_t addr, size; } regs[1024];
  unsigned nregs;
  pthread_t th;
  int th_started;
  volatile int stop;
};
struct emap { uint64_t addr, len, page; };
struct entry { int pid; uint64_t uid, cid, cores; };

static struct {
  int (*open)(const char *, int, ...);
  int (*openat)(int, const char *, int, ...);
  int (*close)(int);
  int (*ioctl)(int, unsigned long, ...);
  void *(*mmap)(void *, size_t, int, int, int, off_t);
  int (*munmap)(void *, size_t);
  int (*madvise)(void *, size_t, int);
  int (*socket)(int, int, int);
  int (*bind)(int, const struct sockaddr *, socklen_t);
  int (*connect)(int, const struct sockaddr *, socklen_t);
  int (*setsockopt)(int, int, int, const void *, socklen_t);
} R;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned char kind[MAXFD];
static struct slot slots[MAXSLOTS];
static struct emap emaps[MAXMAPS];
static unsigned nemaps;
static int active, touched;
static unsigned ncpus = 8, tpc = 2, ncores = 4, max_regions = 128, pool_node, mem_node;
static uint64_t pool_cpus;
static const char *dev_path = "/dev/nitro_enclaves", *ns = "default", *state_dir, *report, *scenario = "ok";
static uint64_t hp_count[64]; /* emulated pool: pages per log2(size) */
static int emulate;
static int call_count[8];
static unsigned char inherited[MAXFD]; /* fds open when the process started: not the program's to close */

static void scan_fds(unsigned char *mark) {
  DIR *d = opendir("/proc/self/fd");
  for (struct dirent *de; d && (de = readdir(d));) {
    int fd = atoi(de->d_name);
    if (de->d_name[0] != '.' && fd >= 0 && fd < MAXFD && fd != dirfd(d)) mark[fd] = 1;
  }
  if (d) closedir(d);
}

/* ------------------------------------------------------------------------------------------------ utils */

static uint64_t envu(const char *n, uint64_t d) {
  const char *s = getenv(n);
  return s && *s ? strtoull(s, NULL, 0) : d;
}

static void sleep_ms(unsigned ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0) {}
}

static uint64_t parse_cpulist(const char *s) {
  uint64_t m = 0;
  while (s && *s) {
    char *e;
    unsigned long a = strtoul(s, &e, 10), b = a;
    if (e == s) break;
    if (*e == '-') b = strtoul(e + 1, &e, 10);
    for (unsigned long c = a; c <= b && c < 64; c++) m |= 1ULL << c;
    s = *e == ',' ? e + 1 : e;
  }
  return m;
}

static void rlog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void rlog(const char *fmt, ...) {
  if (!report) return;
  char buf[4096];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf - 2, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if (n > (int)sizeof buf - 2) n = (int)sizeof buf - 2;
  buf[n++] = '\n';
  int fd = R.open(report, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return;
  (void)!write(fd, buf, (size_t)n);
  R.close(fd);
}

static const char *op_names[] = {"open", "create_vm", "add_vcpu", "get_image_load_info", "set_mem", "start", "populate"};

/* Injected error for op (0 = none); also handles NESIM_CRASH / NESIM_HANG. */
static int inject(int op) {
  const char *name = op_names[op];
  size_t nl = strlen(name);
  int n = ++call_count[op];
  const char *c = getenv("NESIM_CRASH"), *h = getenv("NESIM_HANG");
  if (c && !strcmp(c, name)) raise(SIGSEGV);
  if (h && !strcmp(h, name)) for (;;) pause();
  const char *s = getenv("NESIM_INJECT");
  while (s && *s) {
    const char *end = strchr(s, ',');
    size_t len = end ? (size_t)(end - s) : strlen(s);
    if (len > nl + 1 && !strncmp(s, name, nl) && s[nl] == ':') {
      const char *v = s + nl + 1, *at = memchr(v, '@', len - nl - 1);
      size_t vl = at ? (size_t)(at - v) : len - nl - 1;
      int want = at ? atoi(at + 1) : 0;
      if (!want || want == n) {
        int e = xne_errno_parse(v, (unsigned)vl);
        if (e > 0) return e;
      }
    }
    s = end ? end + 1 : NULL;
  }
  return 0;
}

/* ------------------------------------------------------------------------------------------------ pool state */

/* The driver releases an enclave when its fd's last holder dies, before anyone reaps it: zombies count as dead. */
static int pid_live(int pid) {
  if (kill(pid, 0) != 0 && errno != EPERM) return 0;
  char p[64], buf[512];
  snprintf(p, sizeof p, "/proc/%d/stat", pid);
  int fd = R.open(p, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 1;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  R.close(fd);
  buf[n > 0 ? n : 0] = 0;
  char *close_paren = strrchr(buf, ')');
  return !(close_paren && close_paren[1] == ' ' && close_paren[2] == 'Z');
}

static int lock_state(struct entry *es, unsigned *n) {
  *n = 0;
  if (!state_dir) return -1;
  char p[4096];
  snprintf(p, sizeof p, "%s/slots", state_dir);
  int fd = R.open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return -1;
  flock(fd, LOCK_EX);
  char buf[8192];
  ssize_t r = pread(fd, buf, sizeof buf - 1, 0);
  buf[r > 0 ? r : 0] = 0;
  for (char *line = buf; *line && *n < MAXENTRIES;) {
    struct entry e;
    unsigned long long uid, cid, cores;
    if (sscanf(line, "%d %llx %llu %llx", &e.pid, &uid, &cid, &cores) == 4 && pid_live(e.pid)) {
      e.uid = uid; e.cid = cid; e.cores = cores;
      es[(*n)++] = e;
    }
    char *nl = strchr(line, '\n');
    if (!nl) break;
    line = nl + 1;
  }
  return fd;
}

static void unlock_state(int fd, struct entry *es, unsigned n) {
  if (fd < 0) return;
  char buf[8192];
  size_t o = 0;
  for (unsigned i = 0; i < n; i++)
    o += (size_t)snprintf(buf + o, sizeof buf - o, "%d %llx %llu %llx\n", es[i].pid, (unsigned long long)es[i].uid,
                          (unsigned long long)es[i].cid, (unsigned long long)es[i].cores);
  if (ftruncate(fd, 0) == 0) (void)!pwrite(fd, buf, o, 0);
  R.close(fd);
}

/* Cores held by every live enclave except `self` (other processes via the state file, this one via slots). */
static uint64_t held_cores(const struct slot *self) {
  uint64_t m = 0;
  struct entry es[MAXENTRIES];
  unsigned n;
  int fd = lock_state(es, &n);
  for (unsigned i = 0; i < n; i++)
    if (es[i].pid != getpid()) m |= es[i].cores;
  unlock_state(fd, es, n);
  for (int i = 0; i < MAXSLOTS; i++)
    if (slots[i].used) m |= slots[i].cores; /* including self: a held core is never "free" again */
  (void)self;
  return m;
}

/* Publish this process's slots to the state file. */
static void publish(void) {
  struct entry es[MAXENTRIES];
  unsigned n, k = 0;
  int fd = lock_state(es, &n);
  if (fd < 0) return;
  for (unsigned i = 0; i < n; i++)
    if (es[i].pid != getpid()) es[k++] = es[i];
  for (int i = 0; i < MAXSLOTS && k < MAXENTRIES; i++)
    if (slots[i].used) es[k++] = (struct entry){getpid(), slots[i].uid, slots[i].cid, slots[i].cores};
  unlock_state(fd, es, k);
}

static int cid_in_use(uint64_t cid) {
  struct entry es[MAXENTRIES];
  unsigned n;
  int used = 0;
  int fd = lock_state(es, &n);
  for (unsigned i = 0; i < n; i++)
    if (es[i].pid != getpid() && es[i].cid == cid) used = 1;
  unlock_state(fd, es, n);
  for (int i = 0; i < MAXSLOTS; i++)
    if (slots[i].used && slots[i].cid == cid) used = 1;
  return used;
}

static uint64_t core_threads(unsigned core) {
  uint64_t m = 0;
  for (unsigned t = 0; t < tpc; t++) m |= 1ULL << (core + t * ncores);
  return m;
}

/* Pool cores with no holder, as a core mask. */
static uint64_t free_pool_cores(const struct slot *self) {
  uint64_t held = held_cores(self), m = 0;
  for (unsigned c = 0; c < ncores; c++)
    if ((pool_cpus & core_threads(c)) == core_threads(c) && !(held & (1ULL << c))) m |= 1ULL << c;
  return m;
}

/* ------------------------------------------------------------------------------------------------ vsock redirect */

static socklen_t vsock_name(struct sockaddr_un *u, unsigned cid, unsigned port) {
  memset(u, 0, sizeof *u);
  u->sun_family = AF_UNIX;
  int n = snprintf(u->sun_path + 1, sizeof u->sun_path - 1, "nesim-vsock:%s:%u:%u", ns, cid, port);
  return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
}

/* ------------------------------------------------------------------------------------------------ enclave */

static void hup(struct slot *s) {
  pthread_mutex_lock(&mu);
  if (s->wfd >= 0) { R.close(s->wfd); s->wfd = -1; }
  if (s->state == ST_RUNNING) s->state = ST_STOPPED;
  pthread_mutex_unlock(&mu);
}

static void *enclave_main(void *arg) {
  struct slot *s = arg;
  unsigned boot = (unsigned)envu("NESIM_BOOT_MS", 10);
  const char *ex = getenv("NESIM_EXIT_MS");
  int clients[8], nc = 0;
  uint64_t t0 = 0;
  struct timespec ts;
  for (unsigned i = 0; i < boot / 5 && !s->stop; i++) sleep_ms(5);
  if (!strcmp(scenario, "ok") || !strcmp(scenario, "wrong") || !strcmp(scenario, "close")) {
    struct sockaddr_un u;
    socklen_t ul = vsock_name(&u, XNE_PARENT_CID, XNE_HEARTBEAT_PORT);
    int fd = R.socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), ok = -1;
    for (int i = 0; i < 200 && fd >= 0 && !s->stop && (ok = R.connect(fd, (struct sockaddr *)&u, ul)) != 0; i++) sleep_ms(10);
    if (ok == 0 && strcmp(scenario, "close") != 0) {
      unsigned char b = !strcmp(scenario, "wrong") ? (unsigned char)envu("NESIM_BYTE", 0x42) : XNE_HEARTBEAT_BYTE, e = 0;
      (void)!write(fd, &b, 1);
      struct pollfd p = {fd, POLLIN, 0};
      int got = poll(&p, 1, 2000) > 0 && read(fd, &e, 1) == 1;
      rlog("{\"ev\":\"heartbeat\",\"pid\":%d,\"sent\":%u,\"echo\":%d}", getpid(), b, got ? e : -1);
    } else {
      rlog("{\"ev\":\"heartbeat\",\"pid\":%d,\"connected\":%s}", getpid(), ok == 0 ? "true" : "false");
    }
    if (fd >= 0) R.close(fd);
  }
  clock_gettime(CLOCK_MONOTONIC, &ts);
  t0 = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
  unsigned exit_ms = ex ? (unsigned)strtoul(ex, NULL, 0) : (!strcmp(scenario, "exit") ? 30 : 0);
  int exiting = ex || !strcmp(scenario, "exit");
  while (!s->stop && s->wfd >= 0) {
    struct pollfd p = {s->console_fd, POLLIN, 0};
    if (poll(&p, s->console_fd >= 0 ? 1 : 0, 10) > 0 && nc < 8) {
      int c = accept4(s->console_fd, NULL, NULL, SOCK_CLOEXEC);
      if (c >= 0) {
        char msg[256];
        int n = snprintf(msg, sizeof msg, "nesim: enclave %llu console (debug mode)\nnesim: booted %u vCPUs, %llu MiB\n",
                         (unsigned long long)s->cid, (unsigned)__builtin_popcountll(s->vcpus),
                         (unsigned long long)(s->mem_size >> 20));
        (void)!send(c, msg, (size_t)n, MSG_NOSIGNAL);
        clients[nc++] = c;
      }
    }
    clock_gettime(CLOCK_MONOTONIC, &ts);
    if (exiting && (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000 - t0 >= exit_ms) {
      for (int i = 0; i < nc; i++) (void)!send(clients[i], "nesim: enclave exiting\n", 23, MSG_NOSIGNAL);
      hup(s);
    }
  }
  for (int i = 0; i < nc; i++) R.close(clients[i]);
  return NULL;
}

static void dump_memory(struct slot *s) {
  const char *path = getenv("NESIM_DUMP");
  uint64_t len = envu("NESIM_DUMP_LEN", 0), off = 0, from = XNE_EIF_LOAD_OFFSET, to = from + len;
  if (!path || !len) return;
  int fd = R.open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  for (unsigned i = 0; i < s->nchunks && off < to; i++) {
    uint64_t a = off > from ? off : from, b = off + s->chunks[i].size < to ? off + s->chunks[i].size : to;
    if (a < b) (void)!pwrite(fd, (char *)(uintptr_t)(s->chunks[i].addr + (a - off)), b - a, (off_t)(a - from));
    off += s->chunks[i].size;
  }
  R.close(fd);
}

static void release_slot(struct slot *s) {
  s->stop = 1;
  if (s->th_started) pthread_join(s->th, NULL);
  if (s->wfd >= 0) R.close(s->wfd);
  if (s->console_fd >= 0) R.close(s->console_fd);
  free(s->chunks);
  memset(s, 0, sizeof *s);
  publish();
}

/* ------------------------------------------------------------------------------------------------ page walk */

/* Page size, hugetlb flag and VMA start of the mapping containing addr; -1 when unmapped. */
static int page_info(uint64_t addr, uint64_t *page, int *huge, uint64_t *start) {
  for (unsigned i = 0; i < nemaps; i++)
    if (addr >= emaps[i].addr && addr < emaps[i].addr + emaps[i].len) {
      *page = emaps[i].page; *huge = 1; *start = emaps[i].addr;
      return 0;
    }
  int fd = R.open("/proc/self/smaps", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  static char buf[1 << 20];
  ssize_t n = 0, r;
  while (n < (ssize_t)sizeof buf - 1 && (r = read(fd, buf + n, sizeof buf - 1 - (size_t)n)) > 0) n += r;
  R.close(fd);
  buf[n] = 0;
  int found = 0;
  for (char *l = buf; l && *l;) {
    unsigned long long a, b;
    if (sscanf(l, "%llx-%llx ", &a, &b) == 2 && strchr(l, ' ') && strchr(l, ' ') < strchr(l, '\n')) {
      if (found) break;
      if (addr >= a && addr < b) { found = 1; *start = a; *page = 4096; *huge = 0; }
    } else if (found && !strncmp(l, "KernelPageSize:", 15)) {
      *page = strtoull(l + 15, NULL, 10) * 1024;
    } else if (found && !strncmp(l, "VmFlags:", 8)) {
      char *e = strchr(l, '\n');
      for (char *q = l + 8; q && (!e || q < e); q = strchr(q + 1, ' '))
        if (!strncmp(q, " ht", 3) && (q[3] == ' ' || q[3] == '\n')) *huge = 1;
    }
    l = strchr(l, '\n');
    if (l) l++;
  }
  return found ? 0 : -1;
}

/* ------------------------------------------------------------------------------------------------ ioctls */

static struct slot *slot_of(int fd) {
  for (int i = 0; i < MAXSLOTS; i++)
    if (slots[i].used && slots[i].fd == fd) return &slots[i];
  return NULL;
}

static int fail_errno(int e) {
  errno = e;
  return -1;
}

static int do_create_vm(uint64_t *uidp) {
  int e;
  if (!free_pool_cores(NULL)) return fail_errno(272); /* NE_ERR_NO_CPUS_AVAIL_IN_POOL */
  struct slot *s = NULL;
  for (int i = 0; i < MAXSLOTS && !s; i++)
    if (!slots[i].used) s = &slots[i];
  if (!s) return fail_errno(ENOMEM);
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return -1;
  if ((e = inject(1))) { R.close(p[0]); R.close(p[1]); return fail_errno(e); } /* SLOT_ALLOC */
  uint64_t uid = 0;
  int rfd = R.open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (rfd >= 0) { (void)!read(rfd, &uid, sizeof uid); R.close(rfd); }
  uid = (uid & 0x0FFFFFFFFFFFFFFFULL) | 0x0100000000000000ULL;
  if (!uidp) { R.close(p[0]); R.close(p[1]); return fail_errno(EFAULT); }
  memset(s, 0, sizeof *s);
  s->used = 1; s->fd = p[0]; s->wfd = p[1]; s->console_fd = -1; s->uid = uid; s->creator = getpid();
  s->state = ST_INIT;
  s->chunks = calloc(max_regions + 1, sizeof *s->chunks);
  *uidp = uid;
  if (p[0] < MAXFD) kind[p[0]] = K_ENCLAVE;
  publish();
  return p[0];
}

static int do_add_vcpu(struct slot *s, uint32_t *idp) {
  int e;
  if (!idp) return fail_errno(EFAULT);
  uint32_t id = *idp;
  if (s->state != ST_INIT) return fail_errno(270);
  if (id >= ncpus) return fail_errno(271);
  if (id == 0) {
    for (unsigned c = 0; c < ncores && !id; c++)
      if (s->cores & (1ULL << c))
        for (unsigned t = 0; t < tpc && !id; t++) {
          unsigned cpu = c + t * ncores;
          if (!(s->vcpus & (1ULL << cpu))) id = cpu;
        }
    if (!id) {
      uint64_t f = free_pool_cores(s);
      if (!f) return fail_errno(272);
      unsigned c = (unsigned)__builtin_ctzll(f);
      s->cores |= 1ULL << c;
      for (unsigned t = 0; t < tpc && !id; t++) if (c + t * ncores) id = c + t * ncores;
    }
  } else {
    if (s->vcpus & (1ULL << id)) return fail_errno(256);
    unsigned c = id % ncores;
    if (!(s->cores & (1ULL << c))) {
      if (!(pool_cpus & (1ULL << id)) || !(free_pool_cores(s) & (1ULL << c))) return fail_errno(257);
      s->cores |= 1ULL << c;
    }
  }
  publish();
  if (getpid() != s->creator) return fail_errno(EIO);
  if ((e = inject(2))) return fail_errno(e); /* SLOT_ADD_VCPU */
  s->vcpus |= 1ULL << id;
  *idp = id;
  return 0;
}

static int do_load_info(struct slot *s, struct xne_image_load_info *li) {
  int e;
  if (!li) return fail_errno(EFAULT);
  if (s->state != ST_INIT) return fail_errno(270);
  if (li->flags == 0 || li->flags >= XNE_IMAGE_LOAD_MAX_FLAG_VAL) return fail_errno(274);
  if ((e = inject(3))) return fail_errno(e);
  li->memory_offset = XNE_EIF_LOAD_OFFSET;
  return 0;
}

static int do_set_mem(struct slot *s, const struct xne_user_memory_region *mr) {
  int e;
  if (!mr) return fail_errno(EFAULT);
  uint64_t a = mr->userspace_addr, sz = mr->memory_size;
  if (mr->flags >= XNE_MEMORY_REGION_MAX_FLAG_VAL) return fail_errno(274);
  if (s->state != ST_INIT) return fail_errno(270);
  if (getpid() != s->creator) return fail_errno(EIO);
  if (sz % XNE_REGION_GRANULE) return fail_errno(259);
  if (a % XNE_REGION_GRANULE) return fail_errno(261);
  if (a + sz < a || a + sz > USER_TOP) return fail_errno(260);
  for (unsigned i = 0; i < s->nregs; i++)
    if (a < s->regs[i].addr + s->regs[i].size && s->regs[i].addr < a + sz) return fail_errno(262);
  if (sz == 0) return fail_errno(ENOMEM);
  struct chunk tmp[1024];
  unsigned n = 0;
  for (uint64_t off = 0; off < sz;) {
    uint64_t page = 0, start = 0;
    int huge = 0;
    pthread_mutex_lock(&mu);
    int r = page_info(a + off, &page, &huge, &start);
    pthread_mutex_unlock(&mu);
    if (r != 0) return fail_errno(EFAULT);
    if (!huge) return fail_errno(263);
    if ((a + off - start) % page) page = 4096; /* a tail page reads as 4 KiB (§2.6) */
    if (page % XNE_REGION_GRANULE) return fail_errno(273);
    if (mem_node != pool_node) return fail_errno(264);
    if (n < 1024) tmp[n++] = (struct chunk){a + off, page};
    off += page;
  }
  if (s->nchunks + n > max_regions) return fail_errno(265);
  if (s->nregs >= 1024) return fail_errno(265);
  s->regs[s->nregs].addr = a;
  s->regs[s->nregs].size = sz;
  s->nregs++;
  if ((e = inject(4))) return fail_errno(e); /* SLOT_ADD_MEM: region stays recorded */
  for (unsigned i = 0; i < n; i++) {
    s->chunks[s->nchunks++] = tmp[i];
    s->mem_size += tmp[i].size;
  }
  return 0;
}

static int do_start(struct slot *s, struct xne_enclave_start_info *si) {
  int e;
  if (!si) return fail_errno(EFAULT);
  if (si->flags >= XNE_ENCLAVE_START_MAX_FLAG_VAL) return fail_errno(274);
  uint64_t cid = si->enclave_cid;
  if ((cid >= 1 && cid <= 3) || cid == 0xFFFFFFFFULL || cid > 0xFFFFFFFFULL) return fail_errno(275);
  if (s->state != ST_INIT) return fail_errno(270);
  if (!s->nregs) return fail_errno(266);
  if (s->mem_size < XNE_MIN_MEM) return fail_errno(268);
  if (!s->vcpus) return fail_errno(267);
  for (unsigned c = 0; c < ncores; c++)
    if ((s->cores & (1ULL << c)) && (s->vcpus & core_threads(c)) != core_threads(c)) return fail_errno(269);
  if ((e = inject(5))) return fail_errno(e); /* ENCLAVE_START */
  if (cid == 0)
    for (cid = 16; cid_in_use(cid); cid++) {}
  else if (cid_in_use(cid))
    return fail_errno(EADDRINUSE); /* the device refuses a CID in use; its rc is undocumented */
  s->cid = cid;
  s->flags = si->flags;
  s->state = ST_RUNNING;
  si->enclave_cid = cid;
  publish();
  dump_memory(s);
  char sizes[2048];
  size_t o = 0;
  for (unsigned i = 0; i < s->nchunks && o + 24 < sizeof sizes; i++)
    o += (size_t)snprintf(sizes + o, sizeof sizes - o, "%s%llu", i ? "," : "", (unsigned long long)(s->chunks[i].size >> 20));
  sizes[o] = 0;
  rlog("{\"ev\":\"start\",\"pid\":%d,\"cid\":%llu,\"flags\":%llu,\"vcpus\":%u,\"memMiB\":%llu,\"chunksMiB\":[%s]}",
       getpid(), (unsigned long long)cid, (unsigned long long)s->flags, (unsigned)__builtin_popcountll(s->vcpus),
       (unsigned long long)(s->mem_size >> 20), sizes);
  if (s->flags & XNE_ENCLAVE_DEBUG_MODE) {
    struct sockaddr_un u;
    socklen_t ul = vsock_name(&u, 0, (unsigned)(cid + XNE_CONSOLE_PORT_BASE));
    s->console_fd = R.socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s->console_fd >= 0 && (R.bind(s->console_fd, (struct sockaddr *)&u, ul) != 0 || listen(s->console_fd, 4) != 0)) {
      R.close(s->console_fd);
      s->console_fd = -1;
    }
  }
  if (pthread_create(&s->th, NULL, enclave_main, s) == 0) s->th_started = 1;
  return 0;
}

/* ------------------------------------------------------------------------------------------------ interposers */

__attribute__((constructor)) static void init(void) {
  R.open = dlsym(RTLD_NEXT, "open");
  R.openat = dlsym(RTLD_NEXT, "openat");
  R.close = dlsym(RTLD_NEXT, "close");
  R.ioctl = dlsym(RTLD_NEXT, "ioctl");
  R.mmap = dlsym(RTLD_NEXT, "mmap");
  R.munmap = dlsym(RTLD_NEXT, "munmap");
  R.madvise = dlsym(RTLD_NEXT, "madvise");
  R.socket = dlsym(RTLD_NEXT, "socket");
  R.bind = dlsym(RTLD_NEXT, "bind");
  R.connect = dlsym(RTLD_NEXT, "connect");
  R.setsockopt = dlsym(RTLD_NEXT, "setsockopt");
  active = 1;
  scan_fds(inherited);
  const char *v;
  if ((v = getenv("NESIM_DEVICE")) && *v) dev_path = v;
  if ((v = getenv("NESIM_NS")) && *v) ns = v;
  if ((v = getenv("NESIM_STATE_DIR")) && *v) state_dir = v;
  if ((v = getenv("NESIM_REPORT")) && *v) report = v;
  if ((v = getenv("NESIM_SCENARIO")) && *v) scenario = v;
  ncpus = (unsigned)envu("NESIM_CPUS", 8);
  tpc = (unsigned)envu("NESIM_TPC", 2);
  if (ncpus > 64) ncpus = 64;
  if (tpc == 0 || ncpus % tpc) tpc = 1;
  ncores = ncpus / tpc;
  pool_cpus = parse_cpulist((v = getenv("NESIM_POOL")) ? v : "1-3,5-7") & ~core_threads(0);
  pool_node = (unsigned)envu("NESIM_POOL_NODE", 0);
  mem_node = (unsigned)envu("NESIM_MEM_NODE", 0);
  max_regions = (unsigned)envu("NESIM_MAX_REGIONS", 128);
  if (max_regions > 1024) max_regions = 1024;
  if ((v = getenv("NESIM_HUGEPAGES")) && *v) {
    emulate = 1;
    while (*v) {
      char *e;
      unsigned long long sz = strtoull(v, &e, 10);
      if (*e == 'M' || *e == 'm') sz <<= 20;
      else if (*e == 'G' || *e == 'g') sz <<= 30;
      else if (*e == 'K' || *e == 'k') sz <<= 10;
      while (*e && *e != ':') e++;
      unsigned long long cnt = *e ? strtoull(e + 1, &e, 10) : 0;
      if (sz && !(sz & (sz - 1))) hp_count[__builtin_ctzll(sz)] = cnt;
      while (*e && *e != ',') e++;
      v = *e ? e + 1 : e;
    }
  }
}

__attribute__((destructor)) static void fini(void) {
  if (!touched) return;
  unsigned dev = 0, enc = 0, vs = 0, huge = 0;
  uint64_t hbytes = 0;
  for (int i = 0; i < MAXFD; i++) {
    dev += kind[i] == K_DEVICE;
    enc += kind[i] == K_ENCLAVE;
    vs += kind[i] == K_VSOCK;
  }
  for (unsigned i = 0; i < nemaps; i++) { huge++; hbytes += emaps[i].len; }
  unsigned other = 0; /* fds beyond stdio opened since start and still open at exit */
  static unsigned char now_open[MAXFD];
  scan_fds(now_open);
  for (int i = 3; i < MAXFD; i++) other += now_open[i] && !inherited[i];
  unsigned ht = 0; /* real hugetlb mappings still present (VmFlags "ht") */
  int sfd = R.open("/proc/self/smaps", O_RDONLY | O_CLOEXEC);
  if (sfd >= 0) {
    static char sb[1 << 20];
    ssize_t n = 0, r;
    while (n < (ssize_t)sizeof sb - 1 && (r = read(sfd, sb + n, sizeof sb - 1 - (size_t)n)) > 0) n += r;
    R.close(sfd);
    sb[n] = 0;
    for (char *q = sb; (q = strstr(q, "VmFlags:")); q++) {
      char *e = strchr(q, '\n'), *h = strstr(q, " ht");
      if (h && (!e || h < e) && (h[3] == ' ' || h[3] == '\n')) ht++;
    }
  }
  huge += ht;
  rlog("{\"ev\":\"exit\",\"pid\":%d,\"deviceFds\":%u,\"enclaveFds\":%u,\"vsockFds\":%u,\"hugeMappings\":%u,\"hugeBytes\":%llu,\"openFds\":%u}",
       getpid(), dev, enc, vs, huge, (unsigned long long)hbytes, other);
}

static int open_common(const char *path, int flags, mode_t mode, int dirfd, int at) {
  if (active && path && !strcmp(path, dev_path)) {
    touched = 1;
    int e = inject(0);
    if (e) return fail_errno(e);
    struct stat st;
    int fd = stat(path, &st) == 0 ? (at ? R.openat(dirfd, path, flags, mode) : R.open(path, flags, mode))
                                   : R.open("/dev/null", flags & ~O_CREAT, 0);
    if (fd >= 0 && fd < MAXFD) kind[fd] = K_DEVICE;
    return fd;
  }
  return at ? R.openat(dirfd, path, flags, mode) : R.open(path, flags, mode);
}

#define MODE_ARG(flags) \
  mode_t mode = 0; \
  if ((flags) & (O_CREAT | O_TMPFILE)) { va_list ap; va_start(ap, flags); mode = va_arg(ap, mode_t); va_end(ap); }

EXPORT int open(const char *path, int flags, ...) { MODE_ARG(flags); return open_common(path, flags, mode, AT_FDCWD, 0); }
EXPORT int open64(const char *path, int flags, ...) { MODE_ARG(flags); return open_common(path, flags, mode, AT_FDCWD, 0); }
EXPORT int openat(int d, const char *path, int flags, ...) { MODE_ARG(flags); return open_common(path, flags, mode, d, 1); }
EXPORT int openat64(int d, const char *path, int flags, ...) { MODE_ARG(flags); return open_common(path, flags, mode, d, 1); }
EXPORT int __open_2(const char *path, int flags) { return open_common(path, flags, 0, AT_FDCWD, 0); }
EXPORT int __open64_2(const char *path, int flags) { return open_common(path, flags, 0, AT_FDCWD, 0); }

EXPORT int close(int fd) {
  if (fd >= 0 && fd < MAXFD && kind[fd] != K_NONE) {
    if (kind[fd] == K_ENCLAVE) {
      struct slot *s = slot_of(fd);
      kind[fd] = K_NONE;
      int r = R.close(fd);
      if (s) release_slot(s); /* ENCLAVE_STOP + SLOT_FREE; cores back to the pool */
      return r;
    }
    kind[fd] = K_NONE;
  }
  return R.close(fd);
}

EXPORT int ioctl(int fd, unsigned long req, ...) {
  va_list ap;
  va_start(ap, req);
  void *arg = va_arg(ap, void *);
  va_end(ap);
  if (fd < 0 || fd >= MAXFD || (kind[fd] != K_DEVICE && kind[fd] != K_ENCLAVE)) return R.ioctl(fd, req, arg);
  touched = 1;
  if (kind[fd] == K_DEVICE) {
    if (req == XNE_CREATE_VM) return do_create_vm(arg);
    return fail_errno(ENOTTY);
  }
  struct slot *s = slot_of(fd);
  if (!s) return fail_errno(EBADF);
  switch (req) {
    case XNE_ADD_VCPU: return do_add_vcpu(s, arg);
    case XNE_GET_IMAGE_LOAD_INFO: return do_load_info(s, arg);
    case XNE_SET_USER_MEMORY_REGION: return do_set_mem(s, arg);
    case XNE_START_ENCLAVE: return do_start(s, arg);
    default: return fail_errno(ENOTTY);
  }
}

static void *mmap_common(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
  if (!emulate || !(flags & MAP_HUGETLB)) return R.mmap(addr, len, prot, flags, fd, off);
  touched = 1;
  unsigned shift = ((unsigned)flags >> 26) & 0x3f;
  if (!shift) shift = 21;
  uint64_t page = 1ULL << shift;
  len = (size_t)((len + page - 1) / page * page);
  uint64_t pages = len / page;
  pthread_mutex_lock(&mu);
  if (hp_count[shift] < pages || nemaps >= MAXMAPS) {
    pthread_mutex_unlock(&mu);
    errno = ENOMEM;
    return MAP_FAILED;
  }
  hp_count[shift] -= pages;
  pthread_mutex_unlock(&mu);
  int f = (flags & ~(MAP_HUGETLB | (0x3f << 26))) | MAP_NORESERVE;
  char *raw = R.mmap(NULL, len + page, prot, f, fd, off);
  if (raw == MAP_FAILED) {
    pthread_mutex_lock(&mu);
    hp_count[shift] += pages;
    pthread_mutex_unlock(&mu);
    return MAP_FAILED;
  }
  uint64_t a = ((uint64_t)(uintptr_t)raw + page - 1) / page * page;
  if (a > (uint64_t)(uintptr_t)raw) R.munmap(raw, a - (uint64_t)(uintptr_t)raw);
  if ((uint64_t)(uintptr_t)raw + len + page > a + len) R.munmap((void *)(uintptr_t)(a + len), (uint64_t)(uintptr_t)raw + len + page - (a + len));
  pthread_mutex_lock(&mu);
  emaps[nemaps++] = (struct emap){a, len, page};
  pthread_mutex_unlock(&mu);
  return (void *)(uintptr_t)a;
}

EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) { return mmap_common(addr, len, prot, flags, fd, off); }
EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off) { return mmap_common(addr, len, prot, flags, fd, off); }

EXPORT int munmap(void *addr, size_t len) {
  pthread_mutex_lock(&mu);
  for (unsigned i = 0; i < nemaps; i++)
    if (emaps[i].addr == (uint64_t)(uintptr_t)addr) {
      unsigned shift = (unsigned)__builtin_ctzll(emaps[i].page);
      hp_count[shift] += emaps[i].len / emaps[i].page;
      emaps[i] = emaps[--nemaps];
      break;
    }
  pthread_mutex_unlock(&mu);
  return R.munmap(addr, len);
}

EXPORT int madvise(void *addr, size_t len, int advice) {
  if (advice == MADV_POPULATE_WRITE && touched) {
    int e = inject(6);
    if (e) return fail_errno(e);
  }
  return R.madvise(addr, len, advice);
}

EXPORT int socket(int domain, int type, int proto) {
  if (domain != AF_VSOCK) return R.socket(domain, type, proto);
  int fd = R.socket(AF_UNIX, type, 0);
  if (fd >= 0 && fd < MAXFD) kind[fd] = K_VSOCK;
  return fd;
}

static int vsock_addr(int fd, const struct sockaddr *a, socklen_t l, struct sockaddr_un *u, socklen_t *ul) {
  if (fd < 0 || fd >= MAXFD || kind[fd] != K_VSOCK || !a || l < sizeof(struct sockaddr_vm) || a->sa_family != AF_VSOCK) return 0;
  const struct sockaddr_vm *v = (const struct sockaddr_vm *)a;
  unsigned cid = v->svm_cid == VMADDR_CID_ANY ? XNE_PARENT_CID : v->svm_cid;
  *ul = vsock_name(u, cid, v->svm_port);
  return 1;
}

EXPORT int bind(int fd, const struct sockaddr *a, socklen_t l) {
  struct sockaddr_un u;
  socklen_t ul;
  if (vsock_addr(fd, a, l, &u, &ul)) return R.bind(fd, (struct sockaddr *)&u, ul);
  return R.bind(fd, a, l);
}

EXPORT int connect(int fd, const struct sockaddr *a, socklen_t l) {
  struct sockaddr_un u;
  socklen_t ul;
  if (vsock_addr(fd, a, l, &u, &ul)) {
    int r = R.connect(fd, (struct sockaddr *)&u, ul);
    if (r != 0 && errno == ECONNREFUSED) errno = ECONNRESET; /* vsock reports a closed port as a reset */
    return r;
  }
  return R.connect(fd, a, l);
}

EXPORT int setsockopt(int fd, int level, int name, const void *v, socklen_t l) {
  if (fd >= 0 && fd < MAXFD && kind[fd] == K_VSOCK && level == AF_VSOCK) return 0;
  return R.setsockopt(fd, level, name, v, l);
}
