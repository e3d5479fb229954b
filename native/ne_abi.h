/*
 * Nitro Enclaves device ABI as used by eif-nehelper and the driver simulator (ne-device.md §1).
 * Own definitions (so the helper builds on hosts whose kernel headers lack nitro_enclaves.h), checked against
 * <linux/nitro_enclaves.h> at compile time whenever that header is present.
 */
#ifndef EIFKIT_NE_ABI_H
#define EIFKIT_NE_ABI_H

#include <stdint.h>
#include <sys/ioctl.h>

struct xne_image_load_info { uint64_t flags; uint64_t memory_offset; };
struct xne_user_memory_region { uint64_t flags; uint64_t memory_size; uint64_t userspace_addr; };
struct xne_enclave_start_info { uint64_t flags; uint64_t enclave_cid; };

/* §1.1: magic 0xAE, asm-generic _IOC encoding (same values on x86_64 and aarch64). */
#define XNE_CREATE_VM _IOR(0xAE, 0x20, uint64_t)
#define XNE_ADD_VCPU _IOWR(0xAE, 0x21, uint32_t)
#define XNE_GET_IMAGE_LOAD_INFO _IOWR(0xAE, 0x22, struct xne_image_load_info)
#define XNE_SET_USER_MEMORY_REGION _IOW(0xAE, 0x23, struct xne_user_memory_region)
#define XNE_START_ENCLAVE _IOWR(0xAE, 0x24, struct xne_enclave_start_info)

/* §1.3 */
#define XNE_EIF_IMAGE 0x01ULL
#define XNE_IMAGE_LOAD_MAX_FLAG_VAL 0x02ULL
#define XNE_MEMORY_REGION_MAX_FLAG_VAL 0x01ULL
#define XNE_ENCLAVE_DEBUG_MODE 0x01ULL
#define XNE_ENCLAVE_START_MAX_FLAG_VAL 0x02ULL

#define XNE_MIB (1024ULL * 1024ULL)
#define XNE_EIF_LOAD_OFFSET (8ULL * XNE_MIB)
#define XNE_MIN_MEM (64ULL * XNE_MIB)
#define XNE_REGION_GRANULE (2ULL * XNE_MIB)
#define XNE_PARENT_CID 3U
#define XNE_HEARTBEAT_PORT 9000U
#define XNE_HEARTBEAT_BYTE 0xB7
#define XNE_CONSOLE_PORT_BASE 10000U

/* §1.4: NE-specific errno values 256..275 (strerror only says "Unknown error N"). */
#define XNE_ERR_FIRST 256
#define XNE_ERR_LAST 275
static const char *const xne_err_names[] = {
  "NE_ERR_VCPU_ALREADY_USED", "NE_ERR_VCPU_NOT_IN_CPU_POOL", "NE_ERR_VCPU_INVALID_CPU_CORE",
  "NE_ERR_INVALID_MEM_REGION_SIZE", "NE_ERR_INVALID_MEM_REGION_ADDR", "NE_ERR_UNALIGNED_MEM_REGION_ADDR",
  "NE_ERR_MEM_REGION_ALREADY_USED", "NE_ERR_MEM_NOT_HUGE_PAGE", "NE_ERR_MEM_DIFFERENT_NUMA_NODE",
  "NE_ERR_MEM_MAX_REGIONS", "NE_ERR_NO_MEM_REGIONS_ADDED", "NE_ERR_NO_VCPUS_ADDED", "NE_ERR_ENCLAVE_MEM_MIN_SIZE",
  "NE_ERR_FULL_CORES_NOT_USED", "NE_ERR_NOT_IN_INIT_STATE", "NE_ERR_INVALID_VCPU", "NE_ERR_NO_CPUS_AVAIL_IN_POOL",
  "NE_ERR_INVALID_PAGE_SIZE", "NE_ERR_INVALID_FLAG_VALUE", "NE_ERR_INVALID_ENCLAVE_CID",
};

/* Standard errno values the driver (or our own syscalls) can return, by name. */
#include <errno.h>
static const struct { int no; const char *name; } xne_std_errnos[] = {
  {EPERM, "EPERM"}, {ENOENT, "ENOENT"}, {EINTR, "EINTR"}, {EIO, "EIO"}, {ENXIO, "ENXIO"}, {EBADF, "EBADF"},
  {EAGAIN, "EAGAIN"}, {ENOMEM, "ENOMEM"}, {EACCES, "EACCES"}, {EFAULT, "EFAULT"}, {EBUSY, "EBUSY"},
  {EEXIST, "EEXIST"}, {ENODEV, "ENODEV"}, {EINVAL, "EINVAL"}, {EMFILE, "EMFILE"}, {ENFILE, "ENFILE"},
  {ENOTTY, "ENOTTY"}, {ENOSPC, "ENOSPC"}, {ERANGE, "ERANGE"}, {ENAMETOOLONG, "ENAMETOOLONG"},
  {EADDRINUSE, "EADDRINUSE"}, {EADDRNOTAVAIL, "EADDRNOTAVAIL"}, {ECONNREFUSED, "ECONNREFUSED"},
  {ECONNRESET, "ECONNRESET"}, {ETIMEDOUT, "ETIMEDOUT"}, {EAFNOSUPPORT, "EAFNOSUPPORT"}, {EPIPE, "EPIPE"},
  {EOVERFLOW, "EOVERFLOW"}, {ENOSYS, "ENOSYS"}, {EOPNOTSUPP, "EOPNOTSUPP"}, {EHOSTUNREACH, "EHOSTUNREACH"},
};

/* Name of an errno value: NE_ERR_* for 256..275, the E* name for common ones, else NULL. */
static inline const char *xne_errno_name(int e) {
  if (e >= XNE_ERR_FIRST && e <= XNE_ERR_LAST) return xne_err_names[e - XNE_ERR_FIRST];
  for (unsigned i = 0; i < sizeof xne_std_errnos / sizeof xne_std_errnos[0]; i++)
    if (xne_std_errnos[i].no == e) return xne_std_errnos[i].name;
  return 0;
}

/* Parse an errno given by name (NE_ERR_*, E*) or number; returns -1 when unknown. */
static inline int xne_errno_parse(const char *s, unsigned len) {
  unsigned i;
  if (len > 0 && s[0] >= '0' && s[0] <= '9') {
    int v = 0;
    for (i = 0; i < len && s[i] >= '0' && s[i] <= '9' && v < 100000; i++) v = v * 10 + (s[i] - '0');
    return v;
  }
  for (int e = XNE_ERR_FIRST; e <= XNE_ERR_LAST; e++) {
    const char *n = xne_err_names[e - XNE_ERR_FIRST];
    unsigned nl = 0;
    while (n[nl]) nl++;
    if (nl == len) {
      for (i = 0; i < len && n[i] == s[i]; i++) {}
      if (i == len) return e;
    }
  }
  for (unsigned k = 0; k < sizeof xne_std_errnos / sizeof xne_std_errnos[0]; k++) {
    const char *n = xne_std_errnos[k].name;
    unsigned nl = 0;
    while (n[nl]) nl++;
    if (nl == len) {
      for (i = 0; i < len && n[i] == s[i]; i++) {}
      if (i == len) return xne_std_errnos[k].no;
    }
  }
  return -1;
}

#if defined(__has_include)
#if __has_include(<linux/nitro_enclaves.h>)
#include <linux/nitro_enclaves.h>
_Static_assert(XNE_CREATE_VM == NE_CREATE_VM, "NE_CREATE_VM");
_Static_assert(XNE_ADD_VCPU == NE_ADD_VCPU, "NE_ADD_VCPU");
_Static_assert(XNE_GET_IMAGE_LOAD_INFO == NE_GET_IMAGE_LOAD_INFO, "NE_GET_IMAGE_LOAD_INFO");
_Static_assert(XNE_SET_USER_MEMORY_REGION == NE_SET_USER_MEMORY_REGION, "NE_SET_USER_MEMORY_REGION");
_Static_assert(XNE_START_ENCLAVE == NE_START_ENCLAVE, "NE_START_ENCLAVE");
_Static_assert(NE_ERR_INVALID_ENCLAVE_CID == XNE_ERR_LAST, "NE_ERR range");
_Static_assert(NE_ERR_VCPU_ALREADY_USED == XNE_ERR_FIRST, "NE_ERR range");
#endif
#endif
_Static_assert(sizeof(struct xne_image_load_info) == 16, "ne_image_load_info size");
_Static_assert(sizeof(struct xne_user_memory_region) == 24, "ne_user_memory_region size");
_Static_assert(sizeof(struct xne_enclave_start_info) == 16, "ne_enclave_start_info size");
_Static_assert(sizeof xne_err_names / sizeof xne_err_names[0] == XNE_ERR_LAST - XNE_ERR_FIRST + 1, "names");

#endif
