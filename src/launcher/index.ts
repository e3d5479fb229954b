/** Public launcher API (Node only): see docs/launcher.md. */
export {
  runEnclave,
  describeEnclaves,
  enclaveIdOfName,
  terminateEnclave,
  terminateAllEnclaves,
  openConsole,
  pipeConsole,
  type RunEnclaveOptions,
  type RunEnclaveOutcome,
  type RunEnclaveResult,
  type DescribedEnclave,
  type DescribeEnclavesOptions,
  type TerminateResult,
} from './launcher.js';
export { launchPreflight, PreflightError, type Finding as PreflightFinding, type LaunchRequest, type PreflightResult } from './preflight.js';
export { launcherEnv, type LauncherEnv } from './env.js';
export { NE_ERRORS, neError, explainErrno, type NeErrorInfo } from './ne-errors.js';
export { minimumMemoryMiB, heartbeatTimeoutMs, planHugepages, placeEif, parseCpuList, type PlacementPiece } from './sizing.js';
export { formatEnclaveId, slotUidOf } from './enclave-id.js';
export { runEmulated, emulationPreflight, EMULATION_LIMITS, type EmulateOptions, type EmulatedEnclaveResult } from './emulate.js';
export { findEmulationTools, type EmulationTools } from './emulate-tools.js';
