import { readFileSync } from 'node:fs';
import { uptime } from 'node:os';
import { newEpoch } from '@tidings/engine';
import type Database from 'better-sqlite3';
import type { Synchronous } from './open-database.js';

/** How far two estimates of the boot time may differ for the same boot, s (the clock may be adjusted). */
const BOOT_TIME_TOLERANCE_S = 120;

/**
 * What identifies this boot of the machine: Linux's boot id, elsewhere the boot time rounded to the
 * minute (compared with a tolerance).
 */
function currentBoot(): string {
  try {
    return `id:${readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim()}`;
  } catch {
    return `time:${Math.round(Date.now() / 1000 - uptime())}`;
  }
}

function sameBoot(a: string, b: string): boolean {
  if (a === b) return true;
  if (a.startsWith('time:') && b.startsWith('time:')) {
    return Math.abs(Number(a.slice(5)) - Number(b.slice(5))) <= BOOT_TIME_TOLERANCE_S;
  }
  return false;
}

function get(db: Database.Database, key: string): string | undefined {
  return db.prepare('SELECT value FROM meta WHERE key = ?').pluck().get(key) as string | undefined;
}

function set(db: Database.Database, key: string, value: string): void {
  db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)').run(key, value);
}

/**
 * Records that a session has the file open, and tells whether the last one may have lost
 * acknowledged commits. Under `synchronous = normal` a commit is not fsynced: a crash of the process
 * loses nothing (the operating system still writes it out), but a power loss or kernel crash can drop
 * the last commits, and their offsets would then be given again to other messages under the same epoch.
 * So when the last session did not close, ran with `normal`, and the machine has rebooted since, every
 * channel must start a new epoch: clients then get a reset instead of silently reused offsets.
 *
 * Runs inside the opening transaction, which the caller commits with a full fsync.
 */
export function beginSession(db: Database.Database, synchronous: Synchronous): { lostTail: boolean } {
  const boot = currentBoot();
  const open = get(db, 'open') === '1';
  const previousBoot = get(db, 'boot');
  const previousSynchronous = get(db, 'synchronous');
  const lostTail =
    open && previousSynchronous !== 'full' && previousBoot !== undefined && !sameBoot(previousBoot, boot);
  if (lostTail) {
    // The retained messages stay (their offsets and ts are what was durable); only their epoch changes.
    const rename = db.prepare('UPDATE channels SET epoch = ? WHERE id = ?');
    for (const id of db.prepare('SELECT id FROM channels').pluck().all()) rename.run(newEpoch(), id);
  }
  set(db, 'open', '1');
  set(db, 'boot', boot);
  set(db, 'synchronous', synchronous);
  return { lostTail };
}

/** Marks a clean close: nothing of this session can be lost any more once the file is closed. */
export function endSession(db: Database.Database): void {
  set(db, 'open', '0');
}
