/**
 * One thread per CPU, one CPU per thread: binding a CPU id another live
 * thread of the same library holds is `cpu_already_bound` unless every
 * holder shares it explicitly; rebinding, closing and exiting release it; a
 * thread bound by another SDK instance says so (`thread_bound_elsewhere`).
 *
 * @module
 */
import assert from "node:assert/strict";
import { createPercpu, PercpuError, type PercpuSdk, u32, u64 } from "../mod.ts";
import type { BindCommand, BindReply } from "./_ffi_bind_worker.ts";
import { test } from "./_harness.ts";

/** The same variables as `defineBinding` of the Worker script (so both load one library, with one owner table). */
function defineBinding(tag: string) {
  const sdk = createPercpu();
  return { sdk, X: sdk.define(`BIND_${tag}`, u64, 0) };
}

/** A Worker driven by commands, one answer each. */
class Thread {
  readonly #w: Worker;
  #pending: ((r: BindReply) => void) | null = null;
  #crash: string | null = null;

  constructor() {
    this.#w = new Worker(new URL("./_ffi_bind_worker.ts", import.meta.url).href, { type: "module" });
    this.#w.onmessage = (e: MessageEvent<BindReply>) => {
      const p = this.#pending;
      this.#pending = null;
      p?.(e.data);
    };
    this.#w.onerror = (e: Event) => {
      this.#crash = (e as ErrorEvent).message ?? "worker error";
      const p = this.#pending;
      this.#pending = null;
      p?.({ ok: false, code: "(crash)", message: this.#crash });
    };
  }

  /** Sends a command and waits for its answer (60 s at most). */
  send(cmd: BindCommand): Promise<BindReply> {
    if (this.#crash !== null) return Promise.resolve({ ok: false, code: "(crash)", message: this.#crash });
    return new Promise<BindReply>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer to ${JSON.stringify(cmd)}`)), 60_000);
      this.#pending = (r) => {
        clearTimeout(timer);
        resolve(r);
      };
      this.#w.postMessage(cmd);
    });
  }

  /** Sends a command that must succeed. */
  async ok(cmd: BindCommand): Promise<Extract<BindReply, { ok: true }>> {
    const r = await this.send(cmd);
    if (!r.ok) assert.fail(`${JSON.stringify(cmd)} failed: ${r.code}: ${r.message}`);
    return r;
  }

  terminate(): void {
    this.#w.terminate();
  }
}

function code(c: string, ...parts: string[]) {
  return (e: unknown): boolean => {
    if (!(e instanceof PercpuError)) return false;
    assert.equal(e.code, c, e.message);
    for (const p of parts) assert.ok(e.message.includes(p), `${JSON.stringify(e.message)} names ${p}`);
    return true;
  };
}

/** Retries `f` until it stops throwing `cpu_already_bound` (a Worker's thread ends a moment after terminate()). */
async function eventually(f: () => void, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      f();
      return;
    } catch (e) {
      if (!(e instanceof PercpuError && e.code === "cpu_already_bound") || Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

async function withThreads(
  n: number,
  tag: string,
  cpus: number,
  body: (sdk: PercpuSdk, threads: Thread[]) => Promise<void>,
): Promise<void> {
  const { sdk } = defineBinding(tag);
  await sdk.load({ cpus });
  const threads: Thread[] = [];
  try {
    sdk.init(cpus);
    for (let i = 0; i < n; i++) threads.push(new Thread());
    for (const t of threads) await t.ok({ op: "load", tag, cpus });
    await body(sdk, threads);
  } finally {
    for (const t of threads) t.terminate();
    sdk.close();
  }
}

test("two Workers binding the same CPU: the second gets cpu_already_bound, and so does the main thread", async () => {
  await withThreads(2, "T1", 4, async (sdk, [a, b]) => {
    const ra = await a!.ok({ op: "bind", cpu: 1 });
    assert.equal(ra.cpu, 1);
    assert.equal(ra.reg, String(sdk.areaBase(1)));
    const rb = await b!.send({ op: "bind", cpu: 1 });
    assert.equal(rb.ok, false);
    if (rb.ok) return;
    assert.equal(rb.code, "cpu_already_bound");
    assert.match(rb.message, /CPU 1 is already bound/);
    assert.match(rb.message, /shared: true/);
    assert.equal((await b!.ok({ op: "state" })).cpu, -1, "the refused thread stays unbound");
    assert.throws(() => sdk.initPercpuReg(1), code("cpu_already_bound", "initPercpuReg(1)"));
    assert.throws(() => sdk.writePercpuReg(sdk.areaBase(1)), code("cpu_already_bound", "writePercpuReg"));
    assert.equal(sdk.native!.currentCpu(), -1);
    // Other CPUs stay free for everyone.
    await b!.ok({ op: "bind", cpu: 2 });
    sdk.initPercpuReg(3);
    assert.equal((await a!.ok({ op: "add", n: 5 })).value, "5");
    assert.equal((await b!.ok({ op: "add", n: 7 })).value, "7");
  });
});

test("a CPU bound with { shared: true } by every thread holds them all; an exclusive bind of it is refused", async () => {
  await withThreads(3, "T2", 4, async (sdk, [a, b, c]) => {
    assert.equal((await a!.ok({ op: "bind", cpu: 2, shared: true })).cpu, 2);
    const rb = await b!.ok({ op: "bind", cpu: 2, shared: true });
    assert.equal(rb.cpu, 2);
    assert.equal(rb.reg, String(sdk.areaBase(2)), "both register point at CPU 2's area");
    sdk.initPercpuReg(2, { shared: true });
    assert.equal(sdk.native!.currentCpu(), 2);
    const rc = await c!.send({ op: "bind", cpu: 2 });
    assert.ok(
      !rc.ok && rc.code === "cpu_already_bound" && /3 other threads sharing it/.test(rc.message),
      JSON.stringify(rc),
    );
    // One exclusive holder refuses sharers too.
    await c!.ok({ op: "bind", cpu: 0 });
    const ra = await a!.send({ op: "bind", cpu: 0, shared: true });
    assert.ok(!ra.ok && ra.code === "cpu_already_bound" && /exclusively/.test(ra.message), JSON.stringify(ra));
    assert.equal((await a!.ok({ op: "state" })).cpu, 2, "a refused rebind keeps the thread's CPU");
    // The option itself is checked.
    assert.throws(() => sdk.initPercpuReg(2, { shared: 1 } as never), code("value_wrong_kind", "shared"));
    assert.throws(() => sdk.initPercpuReg(2, { share: true } as never), code("value_wrong_kind", "share"));
  });
});

test("rebinding a thread releases its previous CPU, and so does close()", async () => {
  await withThreads(2, "T3", 4, async (sdk, [a, b]) => {
    await a!.ok({ op: "bind", cpu: 1 });
    assert.throws(() => sdk.initPercpuReg(1), code("cpu_already_bound"));
    await a!.ok({ op: "bind", cpu: 3 });
    sdk.initPercpuReg(1);
    assert.equal(sdk.native!.currentCpu(), 1);
    const back = await a!.send({ op: "bind", cpu: 1 });
    assert.ok(!back.ok && back.code === "cpu_already_bound", "the main thread holds CPU 1 now");
    // The main thread moves on: CPU 1 is free again.
    sdk.initPercpuReg(0);
    assert.equal((await a!.ok({ op: "bind", cpu: 1 })).cpu, 1);
    // Rebinding to the same CPU is a no-op, not a conflict with itself.
    assert.equal((await a!.ok({ op: "bind", cpu: 1 })).cpu, 1);
    sdk.initPercpuReg(0);
    await a!.ok({ op: "close" });
    assert.equal((await b!.ok({ op: "bind", cpu: 1 })).cpu, 1, "close() released CPU 1");
  });
});

test("after a Worker holding a CPU exits, the CPU can be bound again", async () => {
  await withThreads(1, "T4", 4, async (sdk, [a]) => {
    await a!.ok({ op: "bind", cpu: 2 });
    assert.throws(() => sdk.initPercpuReg(2), code("cpu_already_bound"));
    a!.terminate();
    await eventually(() => sdk.initPercpuReg(2));
    assert.equal(sdk.native!.currentCpu(), 2);
    const late = new Thread();
    try {
      await late.ok({ op: "load", tag: "T4", cpus: 4 });
      const r = await late.send({ op: "bind", cpu: 2 });
      assert.ok(!r.ok && r.code === "cpu_already_bound");
    } finally {
      late.terminate();
    }
  });
});

test("a thread bound by another SDK instance gets thread_bound_elsewhere naming it, for another and for the same configuration", async () => {
  const one = createPercpu();
  const two = createPercpu();
  const A = one.define("BIND_OTHER_A", u32, 1);
  const B = two.define("BIND_OTHER_B", u32, 2);
  const same = defineBinding("T5");
  const again = defineBinding("T5");
  await one.load({ cpus: 2 });
  await two.load({ cpus: 2 });
  await same.sdk.load({ cpus: 2 });
  await again.sdk.load({ cpus: 2 });
  try {
    for (const s of [one, two, same.sdk]) s.init(2);
    one.initPercpuReg(0);
    assert.equal(A.readCurrent(), 1);
    two.initPercpuReg(1);
    assert.equal(B.readCurrent(), 2);
    for (const f of [() => A.readCurrent(), () => A.addCurrent(1), () => A.currentPtr(), () => one.readPercpuReg()]) {
      assert.throws(
        f,
        code("thread_bound_elsewhere", "another SDK instance", "BIND_OTHER_B", "at CPU 1", "initPercpuReg"),
      );
    }
    // Binding `two` released `one`'s CPU 0 (another library), so `one` can take any CPU again.
    one.initPercpuReg(1);
    assert.equal(A.readCurrent(), 1);
    assert.throws(() => B.readCurrent(), code("thread_bound_elsewhere", "BIND_OTHER_A"));
    // Two loads of one configuration share the library (and its owner table): rebinding moves the thread.
    same.sdk.initPercpuReg(0);
    again.sdk.initPercpuReg(0);
    assert.equal(again.X.readCurrent(), 0n);
    assert.throws(() => same.X.readCurrent(), code("thread_bound_elsewhere", "BIND_T5"));
    same.sdk.initPercpuReg(1);
    assert.equal(same.X.readCurrent(), 0n);
    again.sdk.initPercpuReg(0);
    same.sdk.initPercpuReg(0);
    again.sdk.close();
    assert.equal(same.X.readCurrent(), 0n, "closing the other instance leaves this thread's binding alone");
    one.close();
    assert.throws(() => B.readCurrent(), code("thread_bound_elsewhere", "BIND_T5"));
    same.sdk.close();
    assert.throws(() => B.readCurrent(), code("native_not_initialised", "has not bound"));
  } finally {
    for (const s of [one, two, same.sdk, again.sdk]) s.close();
  }
});
