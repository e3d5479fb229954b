/**
 * The real stages of an image build (./build-image.ts `ImageStages`): the read side (./image-source.ts) and the
 * rootfs side (src/oci/index.ts). INTERIM: those land on main from other branches; until this branch merges them,
 * the default stages are not available and a build says so (tests pass their own stages).
 */
import { EifError } from '../../errors.js';
import type { ImageStages } from './build-image.js';

export async function defaultImageStages(): Promise<ImageStages> {
  throw new EifError('INTERNAL', 'the container-image stages are not merged into this build yet');
}
