/**
 * The private-dockerd helper's own rules (test/helpers/docker.ts): leftovers of dead runs are removed, a live run's
 * folder is left alone, and a pid that is not our dockerd is never signalled (pids get reused).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { reapLeftovers } from '../helpers/docker.js';

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

it('reaps the folder of a dead run without signalling a pid that is not its dockerd', async () => {
  const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
  afterAll(() => sleeper.kill());
  const dead = spawn(process.execPath, ['-e', '0']);
  await new Promise((r) => dead.on('exit', r));
  const stale = mkdtempSync(join(tmpdir(), 'eifkit-dockerd-'));
  writeFileSync(join(stale, 'owner.pid'), `${dead.pid}\n`);
  writeFileSync(join(stale, 'docker.pid'), `${sleeper.pid}\n`); // a reused pid: not a dockerd naming this folder
  mkdirSync(join(stale, 'root'));
  const live = mkdtempSync(join(tmpdir(), 'eifkit-dockerd-'));
  writeFileSync(join(live, 'owner.pid'), `${process.pid}\n`);
  afterAll(() => rmSync(live, { recursive: true, force: true }));

  await reapLeftovers();
  expect(existsSync(stale)).toBe(false);
  expect(existsSync(live)).toBe(true);
  expect(alive(sleeper.pid!)).toBe(true);
});
