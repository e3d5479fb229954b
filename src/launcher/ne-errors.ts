/**
 * What the Nitro Enclaves driver's errno values mean and what to tell the user (ne-device.md §1.4, §3.5).
 * strerror() cannot name 256–275 ("Unknown error N"), so the helper reports names and this table explains them.
 */
import type { ErrorCode } from '../error-codes.js';

export interface NeErrorInfo {
  errno: number;
  name: string;
  /** What the driver checked. */
  meaning: string;
  /** What the user can do. */
  advice: string;
}

const NE: [number, string, string, string][] = [
  [256, 'NE_ERR_VCPU_ALREADY_USED', 'that CPU was already added to this enclave', 'list each CPU id once in --cpu-ids'],
  [257, 'NE_ERR_VCPU_NOT_IN_CPU_POOL', 'the CPU is not among the enclave pool\'s free CPUs', 'pick CPUs from /sys/module/nitro_enclaves/parameters/ne_cpus that no other enclave uses, or use --cpu-count'],
  [258, 'NE_ERR_VCPU_INVALID_CPU_CORE', 'the CPU\'s core index is out of range for the pool', 'rewrite the pool with the allocator (nitro-enclaves-allocator.service) and retry'],
  [259, 'NE_ERR_INVALID_MEM_REGION_SIZE', 'a memory region size is not a multiple of 2 MiB', 'this is a launcher bug; please report it'],
  [260, 'NE_ERR_INVALID_MEM_REGION_ADDR', 'a memory region address range is not a valid user range', 'this is a launcher bug; please report it'],
  [261, 'NE_ERR_UNALIGNED_MEM_REGION_ADDR', 'a memory region address is not 2 MiB aligned', 'this is a launcher bug; please report it'],
  [262, 'NE_ERR_MEM_REGION_ALREADY_USED', 'a memory region overlaps one already given to the enclave', 'this is a launcher bug; please report it'],
  [263, 'NE_ERR_MEM_NOT_HUGE_PAGE', 'the enclave memory is not backed by hugetlbfs pages', 'reserve hugepages with the allocator (memory_mib in /etc/nitro_enclaves/allocator.yaml)'],
  [264, 'NE_ERR_MEM_DIFFERENT_NUMA_NODE', 'the hugepages are on a different NUMA node than the CPU pool', 'reserve the hugepages on the pool\'s NUMA node (the allocator service does this) and retry'],
  [265, 'NE_ERR_MEM_MAX_REGIONS', 'the hypervisor\'s per-enclave limit of memory regions was reached', 'use 1 GiB hugepages (the allocator reserves the largest size first) or less memory: every hugepage is one region'],
  [266, 'NE_ERR_NO_MEM_REGIONS_ADDED', 'the enclave was started without memory', 'this is a launcher bug; please report it'],
  [267, 'NE_ERR_NO_VCPUS_ADDED', 'the enclave was started without vCPUs', 'ask for at least one full core of CPUs'],
  [268, 'NE_ERR_ENCLAVE_MEM_MIN_SIZE', 'the enclave memory is below the 64 MiB minimum', 'ask for at least 64 MiB (--memory 64)'],
  [269, 'NE_ERR_FULL_CORES_NOT_USED', 'a sibling thread of a core the enclave uses was not added', 'on hosts with 2 threads per core ask for an even number of CPUs (whole cores)'],
  [270, 'NE_ERR_NOT_IN_INIT_STATE', 'the enclave was already started or has stopped', 'retry the launch; if it persists, terminate the enclave and start again'],
  [271, 'NE_ERR_INVALID_VCPU', 'the CPU id is not a possible CPU of this host', 'use CPU ids from the pool (ne_cpus)'],
  [272, 'NE_ERR_NO_CPUS_AVAIL_IN_POOL', 'the CPU pool is empty or every core is taken by other enclaves', 'raise cpu_count in /etc/nitro_enclaves/allocator.yaml and restart nitro-enclaves-allocator.service, or terminate another enclave (eif describe-enclaves)'],
  [273, 'NE_ERR_INVALID_PAGE_SIZE', 'a backing page is not a multiple of 2 MiB (or a region starts inside a hugepage)', 'use 2 MiB or 1 GiB hugepages'],
  [274, 'NE_ERR_INVALID_FLAG_VALUE', 'an ioctl was given an invalid flags value', 'this is a launcher bug; please report it'],
  [275, 'NE_ERR_INVALID_ENCLAVE_CID', 'the CID is reserved (1, 2, 3, 0xFFFFFFFF) or above 32 bits', 'pick --enclave-cid 4 or above, or omit it for an automatic CID'],
];

const STD: Record<string, [string, string]> = {
  ENOENT: ['no such file or device', 'this host has no Nitro Enclaves device — enclave support off, driver not loaded, or the device not mapped into the container'],
  EACCES: ['permission denied', 'add the user to group `ne` (sudo usermod -aG ne $USER) and log in again, or run as root'],
  EPERM: ['operation not permitted', 'add the user to group `ne` (sudo usermod -aG ne $USER) and log in again, or run as root'],
  EIO: ['the call came from a process other than the one that created the enclave, or the device failed', 'retry; if it persists the instance may need a reboot'],
  ETIMEDOUT: ['the Nitro Enclaves PCI device did not answer within 120 s', 'retry; if it persists the instance may be in an inconsistent state and need a reboot'],
  ENOMEM: ['out of memory (or no free hugepage of a size)', 'free memory or reserve more hugepages with the allocator'],
  EFAULT: ['a memory range could not be accessed', 'hugepages may not be accessible in this container (set hugepages-2Mi/hugepages-1Gi limits)'],
  EMFILE: ['too many open files', 'raise the open-file limit'],
  ENOTTY: ['the device did not recognise the request', 'the device is not a Nitro Enclaves device, or the driver is too old'],
  EINVAL: ['invalid argument (e.g. a physical memory chunk not 2 MiB aligned)', 'retry; reserve hugepages with the allocator'],
  EBUSY: ['the device is busy', 'retry shortly; the previous enclave\'s resources may not be returned yet'],
  EADDRINUSE: ['address in use (CID or port already taken)', 'pick another --enclave-cid, or wait for the other launch to finish'],
};

const byErrno = new Map<number, NeErrorInfo>();
const byName = new Map<string, NeErrorInfo>();
for (const [errno, name, meaning, advice] of NE) {
  const info = { errno, name, meaning, advice };
  byErrno.set(errno, info);
  byName.set(name, info);
}

/** The NE_ERR_* table (errno 256..275) in order. */
export const NE_ERRORS: readonly NeErrorInfo[] = [...byErrno.values()];

/**
 * Look up by NE_ERR_* name or errno.
 *
 * @example
 * import { neError } from 'eifkit';
 * neError(263)?.name;                          // 'NE_ERR_MEM_NOT_HUGE_PAGE'
 * neError('NE_ERR_MEM_NOT_HUGE_PAGE')?.advice; // what the user can do
 */
export function neError(codeOrErrno: string | number): NeErrorInfo | undefined {
  return typeof codeOrErrno === 'number' ? byErrno.get(codeOrErrno) : byName.get(codeOrErrno);
}

/**
 * One-sentence explanation plus advice for an errno name the helper reported (NE_ERR_* or E*).
 *
 * @example
 * import { explainErrno } from 'eifkit';
 * explainErrno('EACCES'); // 'EACCES: permission denied; add the user to group `ne` …'
 */
export function explainErrno(name: string): string | undefined {
  const ne = byName.get(name);
  if (ne) return `${ne.name}: ${ne.meaning}; ${ne.advice}`;
  const std = STD[name];
  return std && `${name}: ${std[0]}; ${std[1]}`;
}

/** The message for a failed open of the device (ne-device.md §3.5 #1): ENOENT and EACCES mean different fixes. */
export function deviceOpenMessage(device: string, errnoName: string): { code: ErrorCode; message: string } {
  if (errnoName === 'ENOENT') {
    return {
      code: 'NE_DEVICE_MISSING',
      message: `${device} does not exist: this host has no Nitro Enclaves device — enclave support off, driver not loaded, or the device not mapped into the container (check the instance's EnclaveOptions, \`lsmod | grep nitro_enclaves\`, or the k8s device plugin aws.ec2.nitro/nitro_enclaves)`,
    };
  }
  if (errnoName === 'EACCES' || errnoName === 'EPERM') {
    return {
      code: 'NE_DEVICE_PERMISSION',
      message: `no permission to open ${device} (${errnoName}): it belongs to group \`ne\` — add the user (sudo usermod -aG ne $USER) and log in again, or run as root`,
    };
  }
  return { code: 'NE_DEVICE_OPEN', message: `cannot open ${device}: ${explainErrno(errnoName) ?? errnoName}` };
}
