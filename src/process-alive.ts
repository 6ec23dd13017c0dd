/**
 * Whether a process with this id exists on this machine (in this PID namespace). Signal 0 only
 * checks; EPERM means it exists but belongs to another user.
 */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
