import { Presets, SingleBar } from 'cli-progress';

/** Where one account of an operator's run ended up. */
export type RunResult = 'done' | 'failed' | 'skipped' | 'rate limited';

export interface AccountLine {
  accountId: string;
  result: RunResult;
  /** Why, in a word or two: `transient`, `password_changed`, `disconnected`, … Never a token. */
  detail?: string;
}

export interface Summary {
  total: number;
  counts: Record<RunResult, number>;
  failures: AccountLine[];
  ms: number;
}

/** An output the report writes to: stdout and stderr, or a test's buffer. */
export interface Output {
  write(text: string): unknown;
  isTTY?: boolean;
}

const RESULTS: readonly RunResult[] = ['done', 'failed', 'skipped', 'rate limited'];
/** Failures listed one by one in the summary; beyond this only counted. */
const LISTED_FAILURES = 20;

/**
 * The progress of a run over many accounts: a bar on a terminal (stderr, redrawn in place),
 * plain lines otherwise (stdout, one per account, for logs and pipes), and the summary at the
 * end on stdout either way.
 */
export class RunReport {
  private readonly counts: Record<RunResult, number> = {
    done: 0,
    failed: 0,
    skipped: 0,
    'rate limited': 0,
  };
  private readonly failures: AccountLine[] = [];
  private readonly bar: SingleBar | undefined;
  private readonly started = Date.now();
  private seen = 0;

  constructor(
    private readonly what: string,
    private readonly total: number,
    private readonly out: Output,
    err: Output,
  ) {
    if (err.isTTY && total > 0) {
      this.bar = new SingleBar(
        {
          format: `${what} [{bar}] {value}/{total} | done {done} · failed {failed} · skipped {skipped} · rate limited {limited} | ETA {eta_formatted}`,
          hideCursor: true,
          stream: err as NodeJS.WritableStream,
        },
        Presets.shades_classic,
      );
      this.bar.start(total, 0, this.payload());
    }
  }

  add(line: AccountLine): void {
    this.seen++;
    this.counts[line.result]++;
    if (line.result === 'failed') this.failures.push(line);
    if (this.bar) {
      this.bar.update(this.seen, this.payload());
      return;
    }
    const detail = line.detail ? ` (${line.detail})` : '';
    this.out.write(`[${this.seen}/${this.total}] ${line.accountId} ${line.result}${detail}\n`);
  }

  /** Ends the bar and writes the summary; the summary's figures. */
  finish(extra: string[] = []): Summary {
    this.bar?.stop();
    const ms = Date.now() - this.started;
    const figures = RESULTS.map((r) => `${r} ${this.counts[r]}`).join(', ');
    const lines = [
      `${this.what}: ${this.total} account(s) in ${(ms / 1000).toFixed(1)} s: ${figures}`,
      ...extra,
    ];
    for (const f of this.failures.slice(0, LISTED_FAILURES)) {
      lines.push(`  failed ${f.accountId}${f.detail ? `: ${f.detail}` : ''}`);
    }
    if (this.failures.length > LISTED_FAILURES) {
      lines.push(`  … and ${this.failures.length - LISTED_FAILURES} more`);
    }
    this.out.write(`${lines.join('\n')}\n`);
    return { total: this.total, counts: { ...this.counts }, failures: [...this.failures], ms };
  }

  private payload() {
    return {
      done: this.counts.done,
      failed: this.counts.failed,
      skipped: this.counts.skipped,
      limited: this.counts['rate limited'],
    };
  }
}
