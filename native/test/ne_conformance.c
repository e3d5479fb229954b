/*
 * Driver conformance suite (ne-device.md §6.2): one table entry per NE_ERR code and per ordering rule of
 * §2.3–§2.9, using only the public ioctls. Run against libnesim.so in CI; run it against the real driver on an
 * enclave-enabled host and any difference is simulator drift. Prints "ok NAME" / "FAIL NAME ..." lines.
 *
 *   ne_conformance [all|numa|maxregions|exit]   (expects NESIM_HUGEPAGES=2M:N,32M:M under the simulator, the
 *   default topology 8 CPUs / 2 threads per core / pool 1-3,5-7, and NESIM_SCENARIO=silent except for `exit`)
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include "ne_abi.h"

#ifndef MAP_HUGETLB
#define MAP_HUGETLB 0x40000
#endif

static int failures, dev = -1;
static const char *device;

static void check(const char *name, int rc, int want_errno) {
  int got = rc < 0 ? errno : 0;
  if (got == want_errno) {
    printf("ok %s\n", name);
  } else {
    const char *gn = xne_errno_name(got), *wn = xne_errno_name(want_errno);
    printf("FAIL %s: expected %s got %s (%d)\n", name, want_errno ? (wn ? wn : "?") : "success",
           got ? (gn ? gn : "?") : "success", got);
    failures++;
  }
}

static int create_vm(uint64_t *uid) {
  uint64_t u = 0;
  int fd = ioctl(dev, XNE_CREATE_VM, &u);
  if (uid) *uid = u;
  return fd;
}

static void *huge(unsigned shift) {
  void *p = mmap(NULL, 1ULL << shift, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | (int)(shift << 26), -1, 0);
  if (p == MAP_FAILED) {
    printf("FAIL setup: cannot map a 2^%u hugepage\n", shift);
    exit(2);
  }
  return p;
}

static int set_mem(int fd, uint64_t flags, uint64_t size, void *addr) {
  struct xne_user_memory_region r = {flags, size, (uint64_t)(uintptr_t)addr};
  return ioctl(fd, XNE_SET_USER_MEMORY_REGION, &r);
}

static int add_vcpu(int fd, uint32_t id, uint32_t *out) {
  uint32_t v = id;
  int r = ioctl(fd, XNE_ADD_VCPU, &v);
  if (out) *out = v;
  return r;
}

static int start(int fd, uint64_t flags, uint64_t cid, uint64_t *out) {
  struct xne_enclave_start_info s = {flags, cid};
  int r = ioctl(fd, XNE_START_ENCLAVE, &s);
  if (out) *out = s.enclave_cid;
  return r;
}

/* 64 MiB in 32 x 2 MiB regions plus one full core: a startable enclave. */
static void make_startable(int fd) {
  for (int i = 0; i < 32; i++) set_mem(fd, 0, 2 * XNE_MIB, huge(21));
  uint32_t a, b;
  add_vcpu(fd, 0, &a);
  add_vcpu(fd, 0, &b);
}

static void suite_all(void) {
  uint32_t got;
  uint64_t cid, uid;
  struct xne_image_load_info li;

  /* §1.1: wrong fd kind */
  uint32_t v = 0;
  check("device fd rejects NE_ADD_VCPU (ENOTTY)", ioctl(dev, XNE_ADD_VCPU, &v), ENOTTY);
  int e = create_vm(&uid);
  check("NE_CREATE_VM returns an fd", e, 0);
  check("slot uid is nonzero", uid ? 0 : -1, 0);
  check("enclave fd rejects NE_CREATE_VM (ENOTTY)", ioctl(e, XNE_CREATE_VM, &uid), ENOTTY);

  /* §2.5 */
  li = (struct xne_image_load_info){0, 0};
  check("load info flags 0 -> NE_ERR_INVALID_FLAG_VALUE", ioctl(e, XNE_GET_IMAGE_LOAD_INFO, &li), 274);
  li.flags = 2;
  check("load info flags 2 -> NE_ERR_INVALID_FLAG_VALUE", ioctl(e, XNE_GET_IMAGE_LOAD_INFO, &li), 274);
  li.flags = XNE_EIF_IMAGE;
  check("load info NE_EIF_IMAGE succeeds", ioctl(e, XNE_GET_IMAGE_LOAD_INFO, &li), 0);
  check("load offset is 8 MiB", li.memory_offset == XNE_EIF_LOAD_OFFSET ? 0 : -1, 0);

  /* §2.8 on an empty enclave: flags, then CID, then state, then regions */
  check("start flags 2 -> NE_ERR_INVALID_FLAG_VALUE (before CID check)", start(e, 2, 3, NULL), 274);
  check("start CID 1 -> NE_ERR_INVALID_ENCLAVE_CID", start(e, 0, 1, NULL), 275);
  check("start CID 2 -> NE_ERR_INVALID_ENCLAVE_CID", start(e, 0, 2, NULL), 275);
  check("start CID 3 -> NE_ERR_INVALID_ENCLAVE_CID", start(e, 0, 3, NULL), 275);
  check("start CID 0xFFFFFFFF -> NE_ERR_INVALID_ENCLAVE_CID", start(e, 0, 0xFFFFFFFFULL, NULL), 275);
  check("start CID > u32 -> NE_ERR_INVALID_ENCLAVE_CID", start(e, 0, 0x100000010ULL, NULL), 275);
  check("start without memory -> NE_ERR_NO_MEM_REGIONS_ADDED", start(e, 0, 0, NULL), 266);

  /* §2.6 checks in order */
  char *p2 = huge(21);
  check("region flags 1 -> NE_ERR_INVALID_FLAG_VALUE", set_mem(e, 1, 2 * XNE_MIB, p2), 274);
  check("region size 1 MiB -> NE_ERR_INVALID_MEM_REGION_SIZE", set_mem(e, 0, XNE_MIB, p2), 259);
  check("size checked before alignment", set_mem(e, 0, XNE_MIB, p2 + 4096), 259);
  check("unaligned address -> NE_ERR_UNALIGNED_MEM_REGION_ADDR", set_mem(e, 0, 2 * XNE_MIB, p2 + 4096), 261);
  check("range past user space -> NE_ERR_INVALID_MEM_REGION_ADDR",
        set_mem(e, 0, 4 * XNE_MIB, (void *)(uintptr_t)0x7ffffffe0000000ULL), 260);
  check("size 0 -> ENOMEM", set_mem(e, 0, 0, p2), ENOMEM);
  void *anon = mmap(NULL, 4 * XNE_MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  char *anon2 = (char *)(((uintptr_t)anon + 2 * XNE_MIB - 1) & ~(uintptr_t)(2 * XNE_MIB - 1));
  check("normal pages -> NE_ERR_MEM_NOT_HUGE_PAGE", set_mem(e, 0, 2 * XNE_MIB, anon2), 263);
  munmap(anon, 4 * XNE_MIB);
  check("unmapped range -> EFAULT", set_mem(e, 0, 2 * XNE_MIB, anon2), EFAULT);
  char *p32 = huge(25);
  check("range starting inside a 32 MiB page -> NE_ERR_INVALID_PAGE_SIZE", set_mem(e, 0, 2 * XNE_MIB, p32 + 2 * XNE_MIB), 273);
  check("2 MiB region accepted", set_mem(e, 0, 2 * XNE_MIB, p2), 0);
  check("same region again -> NE_ERR_MEM_REGION_ALREADY_USED", set_mem(e, 0, 2 * XNE_MIB, p2), 262);
  check("start below 64 MiB -> NE_ERR_ENCLAVE_MEM_MIN_SIZE", start(e, 0, 0, NULL), 268);
  check("32 MiB page accepted", set_mem(e, 0, 32 * XNE_MIB, p32), 0);
  for (int i = 0; i < 15; i++) set_mem(e, 0, 2 * XNE_MIB, huge(21));
  check("start without vCPUs -> NE_ERR_NO_VCPUS_ADDED", start(e, 0, 0, NULL), 267);

  /* §2.4 */
  check("vCPU id >= possible CPUs -> NE_ERR_INVALID_VCPU", add_vcpu(e, 8, NULL), 271);
  check("explicit CPU 1 from the pool", add_vcpu(e, 1, &got), 0);
  check("CPU 1 again -> NE_ERR_VCPU_ALREADY_USED", add_vcpu(e, 1, NULL), 256);
  check("CPU 4 (sibling of CPU 0) -> NE_ERR_VCPU_NOT_IN_CPU_POOL", add_vcpu(e, 4, NULL), 257);
  check("start with half a core -> NE_ERR_FULL_CORES_NOT_USED", start(e, 0, 0, NULL), 269);
  check("auto vCPU picks the held core's sibling", add_vcpu(e, 0, &got), 0);
  check("auto vCPU id is 5", got == 5 ? 0 : -1, 0);
  check("start succeeds", start(e, XNE_ENCLAVE_DEBUG_MODE, 0, &cid), 0);
  check("auto CID is >= 4", cid >= 4 ? 0 : -1, 0);

  /* after start: everything is NE_ERR_NOT_IN_INIT_STATE, but flag checks of SET_MEM come first */
  check("started: add vCPU -> NE_ERR_NOT_IN_INIT_STATE", add_vcpu(e, 0, NULL), 270);
  li.flags = XNE_EIF_IMAGE;
  check("started: load info -> NE_ERR_NOT_IN_INIT_STATE", ioctl(e, XNE_GET_IMAGE_LOAD_INFO, &li), 270);
  check("started: region flags 1 -> NE_ERR_INVALID_FLAG_VALUE (before state)", set_mem(e, 1, 2 * XNE_MIB, huge(21)), 274);
  check("started: region -> NE_ERR_NOT_IN_INIT_STATE", set_mem(e, 0, 2 * XNE_MIB, huge(21)), 270);
  check("started: start with CID 3 -> NE_ERR_INVALID_ENCLAVE_CID (before state)", start(e, 0, 3, NULL), 275);
  check("started: start -> NE_ERR_NOT_IN_INIT_STATE", start(e, 0, 0, NULL), 270);
  struct pollfd pf = {e, POLLIN, 0};
  check("running enclave fd reports no events", poll(&pf, 1, 50) == 0 ? 0 : -1, 0);

  /* explicit CPUs of a core another enclave holds; pool exhaustion (§2.3 step 1, §2.4 4a) */
  int e2 = create_vm(NULL);
  check("second enclave created", e2, 0);
  check("CPU 1 held by the first enclave -> NE_ERR_VCPU_NOT_IN_CPU_POOL", add_vcpu(e2, 1, NULL), 257);
  check("auto vCPU from the next free core", add_vcpu(e2, 0, &got), 0);
  check("next core is core 2", got == 2 ? 0 : -1, 0);
  int e3 = create_vm(NULL);
  check("third enclave created", e3, 0);
  check("explicit CPU 7 (core 3)", add_vcpu(e3, 7, &got), 0);
  check("pool exhausted: NE_CREATE_VM -> NE_ERR_NO_CPUS_AVAIL_IN_POOL", create_vm(NULL), 272);
  check("pool exhausted: auto vCPU on a fresh core -> NE_ERR_NO_CPUS_AVAIL_IN_POOL", add_vcpu(e2, 0, &got) == 0 ? add_vcpu(e2, 0, NULL) : -1, 272);

  /* §2.3 mm rule: a forked child may not add CPUs/memory (EIO) but may read the load info */
  pid_t c = fork();
  if (c == 0) {
    int bad = 0;
    struct xne_image_load_info l2 = {XNE_EIF_IMAGE, 0};
    if (!(add_vcpu(e3, 3, NULL) < 0 && errno == EIO)) bad |= 1;
    if (!(set_mem(e3, 0, 2 * XNE_MIB, huge(21)) < 0 && errno == EIO)) bad |= 2;
    if (ioctl(e3, XNE_GET_IMAGE_LOAD_INFO, &l2) != 0) bad |= 4;
    _exit(bad);
  }
  int st = 0;
  waitpid(c, &st, 0);
  check("forked child: NE_ADD_VCPU/NE_SET_USER_MEMORY_REGION -> EIO, load info ok",
        WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1, 0);

  /* §2.9 release: closing returns the cores */
  close(e);
  close(e2);
  close(e3);
  int e4 = create_vm(NULL);
  check("after close the pool is free again", e4, 0);
  check("CPU 1 can be taken again", add_vcpu(e4, 1, NULL), 0);
  close(e4);
}

static void suite_numa(void) {
  int e = create_vm(NULL);
  check("memory on another node -> NE_ERR_MEM_DIFFERENT_NUMA_NODE", set_mem(e, 0, 2 * XNE_MIB, huge(21)), 264);
  close(e);
}

static void suite_maxregions(void) {
  int e = create_vm(NULL);
  check("region 1 of 2", set_mem(e, 0, 2 * XNE_MIB, huge(21)), 0);
  check("region 2 of 2", set_mem(e, 0, 2 * XNE_MIB, huge(21)), 0);
  check("region 3 -> NE_ERR_MEM_MAX_REGIONS", set_mem(e, 0, 2 * XNE_MIB, huge(21)), 265);
  close(e);
}

static void suite_exit(void) {
  int e = create_vm(NULL);
  make_startable(e);
  check("start", start(e, 0, 0, NULL), 0);
  struct pollfd pf = {e, POLLIN, 0};
  int n = poll(&pf, 1, 2000);
  check("enclave exit shows as POLLHUP on the enclave fd", n == 1 && (pf.revents & POLLHUP) ? 0 : -1, 0);
  check("stopped: start -> NE_ERR_NOT_IN_INIT_STATE", start(e, 0, 0, NULL), 270);
  close(e);
}

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "all";
  device = getenv("NESIM_DEVICE") ? getenv("NESIM_DEVICE") : "/dev/nitro_enclaves";
  dev = open(device, O_RDWR | O_CLOEXEC);
  if (dev < 0) {
    perror(device);
    return 2;
  }
  if (!strcmp(mode, "all")) suite_all();
  else if (!strcmp(mode, "numa")) suite_numa();
  else if (!strcmp(mode, "maxregions")) suite_maxregions();
  else if (!strcmp(mode, "exit")) suite_exit();
  else return 2;
  close(dev);
  printf("%d failure(s)\n", failures);
  return failures ? 1 : 0;
}
