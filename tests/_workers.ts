/**
 * Workers as CPUs: the protocol the multi-thread FFI tests share. The test
 * starts one Worker per task (`new WorkerGroup(script, tasks)`); each Worker
 * script wraps its body in {@link serveWorker}, which hands it its task and
 * a control: `ready()` says the Worker is set up (library loaded, CPU bound)
 * and blocks until the test releases the group, `report(value)` sends a
 * result, `waitPhase(k)` blocks until the test releases phase `k`. What the
 * body returns is its last report. Every wait on either side is bounded.
 *
 * @module
 */
import assert from "node:assert/strict";

/** What a Worker body is handed besides its task. */
export interface WorkerControl<R> {
  /** Reports this Worker ready and blocks until the test releases phase 1. */
  ready(): void;
  /** Sends a result to the test (collected by {@link WorkerGroup.reports}). */
  report(result: R): void;
  /** Blocks until the test releases phase `phase` (or a later one). */
  waitPhase(phase: number): void;
}

/** Messages of the protocol. */
type WorkerMessage<R> =
  | { readonly type: "ready" }
  | { readonly type: "report"; readonly result: R }
  | { readonly type: "error"; readonly message: string };

/** What the test posts to each Worker: its task and the shared phase word. */
interface WorkerEnvelope<T> {
  readonly task: T;
  readonly phase: SharedArrayBuffer;
}

/** Longest a Worker blocks on one phase before it gives up (the test has long failed by then). */
const WORKER_WAIT_MS = 300_000;

/**
 * Runs a Worker script's body on the task the test posts: `ready()`,
 * `report()`, `waitPhase()` as in the module doc; the returned value is
 * reported last; an exception is reported as an error with its stack.
 */
export function serveWorker<T, R>(body: (task: T, control: WorkerControl<R>) => Promise<R> | R): void {
  const scope = globalThis as unknown as {
    onmessage: ((e: { data: WorkerEnvelope<T> }) => void) | null;
    postMessage(msg: WorkerMessage<R>): void;
  };
  scope.onmessage = async (e) => {
    const word = new Int32Array(e.data.phase);
    const waitPhase = (phase: number): void => {
      const deadline = Date.now() + WORKER_WAIT_MS;
      for (let seen = Atomics.load(word, 0); seen < phase; seen = Atomics.load(word, 0)) {
        if (Date.now() > deadline) throw new Error(`phase ${phase} was never released`);
        Atomics.wait(word, 0, seen, 1000);
      }
    };
    const control: WorkerControl<R> = {
      ready: () => {
        scope.postMessage({ type: "ready" });
        waitPhase(1);
      },
      report: (result) => scope.postMessage({ type: "report", result }),
      waitPhase,
    };
    try {
      control.report(await body(e.data.task, control));
    } catch (err) {
      scope.postMessage({ type: "error", message: err instanceof Error ? `${err.message}\n${err.stack}` : String(err) });
    }
  };
}

/** The test's side: one Worker per task, their readiness, phases and reports. */
export class WorkerGroup<T, R> {
  readonly #workers: Worker[] = [];
  readonly #phase = new SharedArrayBuffer(4);
  readonly #reports: R[][];
  readonly #taken: number[];
  #ready = 0;
  #failed: string | null = null;
  #wake: () => void = () => {};

  /** Starts one Worker of `script` per task (Worker `i` runs `tasks[i]`). */
  constructor(script: URL, tasks: readonly T[]) {
    this.#reports = tasks.map(() => []);
    this.#taken = tasks.map(() => 0);
    tasks.forEach((task, i) => {
      const w = new Worker(script.href, { type: "module" });
      w.onmessage = (e: MessageEvent<WorkerMessage<R>>) => {
        const m = e.data;
        if (m.type === "ready") this.#ready++;
        else if (m.type === "report") this.#reports[i]!.push(m.result);
        else this.#failed ??= `worker ${i}: ${m.message}`;
        this.#wake();
      };
      w.onerror = (e: Event) => {
        this.#failed ??= `worker ${i} crashed: ${(e as ErrorEvent).message}`;
        this.#wake();
      };
      this.#workers.push(w);
      w.postMessage({ task, phase: this.#phase } satisfies WorkerEnvelope<T>);
    });
  }

  /** Fails the test if a Worker reported an error or crashed (for polling loops of the test's own). */
  check(): void {
    if (this.#failed !== null) assert.fail(this.#failed);
  }

  /** Waits until `cond` holds, failing on a Worker error or after `timeoutMs`. */
  async until(cond: () => boolean, what: string, timeoutMs = 120_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!cond()) {
      this.check();
      if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
      await new Promise<void>((r) => {
        this.#wake = r;
        setTimeout(r, 20);
      });
    }
    this.check();
  }

  /** Waits until every Worker has called `ready()`. */
  ready(what = "the Workers to get ready"): Promise<void> {
    return this.until(() => this.#ready === this.#workers.length, what);
  }

  /** Releases phase `phase` (1: what `ready()` waits for). */
  release(phase = 1): void {
    const word = new Int32Array(this.#phase);
    Atomics.store(word, 0, phase);
    Atomics.notify(word, 0);
  }

  /** Whether every Worker has sent a report that {@link reports} has not returned yet. */
  settled(): boolean {
    return this.#reports.every((r, i) => r.length > this.#taken[i]!);
  }

  /** Waits for the next report of every Worker and returns them, Worker `i`'s at index `i`. */
  async reports(what = "the Workers to report", timeoutMs = 120_000): Promise<R[]> {
    await this.until(() => this.settled(), what, timeoutMs);
    return this.#reports.map((r, i) => r[this.#taken[i]!++]!);
  }

  /** Terminates every Worker. */
  terminate(): void {
    for (const w of this.#workers) w.terminate();
  }
}
