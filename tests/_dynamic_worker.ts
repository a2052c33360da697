/**
 * Worker script of tests/dynamic_alloc_test.ts: `steps` random allocations
 * and frees (`sdk.alloc` of arrays of u64, u32, u16 or u8 of random length
 * and alignment) on the shared allocator. Each block gets a pattern unique
 * to (worker, allocation, CPU, element) on every CPU, checked before it is
 * freed and at the end; a fresh block must read 0 on every CPU.
 */
import { aligned, array, PercpuError, u16, u32, u64, u8 } from "../mod.ts";
import { type DynamicSummary, type DynamicTask, dynamicSdk, WORKER_DYNAMIC } from "./_dynamic_fixture.ts";
import { serveWorker } from "./_workers.ts";

const ELEMENTS = [
  { type: u64, bytes: 8 },
  { type: u32, bytes: 4 },
  { type: u16, bytes: 2 },
  { type: u8, bytes: 1 },
] as const;

serveWorker<DynamicTask, DynamicSummary>(async (task, control) => {
  const sdk = dynamicSdk();
  try {
    await sdk.load({ cpus: task.cpus, dynamic: WORKER_DYNAMIC });
    control.ready();
    let x = (0x2545f491 * (task.worker + 1)) >>> 0;
    const rnd = (n: number): number => {
      x ^= x << 13;
      x >>>= 0;
      x ^= x >>> 17;
      x ^= x << 5;
      x >>>= 0;
      return x % n;
    };
    type Live = { h: ReturnType<typeof sdk.alloc<ReturnType<typeof array<typeof u64>>>>; length: number; bytes: number; mask: bigint; seq: number };
    const live: Live[] = [];
    const s = { allocs: 0, frees: 0, exhausted: 0, corrupt: 0, dirty: 0, misplaced: 0 };
    const dyn = sdk.native!.info.generated.layout.dynamic!;
    const pattern = (seq: number, cpu: number, i: number, mask: bigint): bigint =>
      (BigInt(task.worker + 1) << 56n | BigInt(seq) << 24n | BigInt(cpu) << 16n | BigInt(i)) & mask;
    const verify = (l: Live): void => {
      for (let c = 0; c < task.cpus; c++) {
        for (let i = 0; i < l.length; i++) if (BigInt(l.h.at(i).remoteRead(c)) !== pattern(l.seq, c, i, l.mask)) s.corrupt++;
      }
    };
    for (let step = 0; step < task.steps; step++) {
      if (live.length === 0 || rnd(100) < (live.length < 16 ? 60 : 40)) {
        const el = ELEMENTS[rnd(ELEMENTS.length)]!;
        const length = 1 + rnd(16);
        const align = Math.max(el.bytes, 1 << rnd(7)); // 1..64, at least the element's
        const type = aligned(array(el.type, length), align);
        let h;
        try {
          h = sdk.alloc(type);
        } catch (err) {
          if (err instanceof PercpuError && err.code === "alloc_exhausted") {
            s.exhausted++;
            const victim = live.splice(rnd(live.length), 1)[0];
            if (victim) {
              verify(victim);
              victim.h.free();
              s.frees++;
            }
            continue;
          }
          throw err;
        }
        s.allocs++;
        if (h.offset % align !== 0 || h.offset < dyn.offset || h.offset + length * el.bytes > dyn.offset + dyn.size) s.misplaced++;
        const l: Live = { h: h as unknown as Live["h"], length, bytes: Math.ceil((Math.ceil(length * el.bytes / align) * align) / 8) * 8, mask: (1n << BigInt(8 * el.bytes)) - 1n, seq: s.allocs };
        for (let c = 0; c < task.cpus; c++) {
          for (let i = 0; i < length; i++) {
            const at = l.h.at(i);
            if (BigInt(at.remoteRead(c)) !== 0n) s.dirty++;
            at.remoteWrite(c, el.bytes === 8 ? pattern(l.seq, c, i, l.mask) : Number(pattern(l.seq, c, i, l.mask)) as never);
          }
        }
        live.push(l);
      } else {
        const l = live.splice(rnd(live.length), 1)[0]!;
        verify(l);
        l.h.free();
        s.frees++;
      }
    }
    for (const l of live) verify(l);
    const summary: DynamicSummary = { ...s, live: live.length, liveBytes: live.reduce((n, l) => n + l.bytes, 0) };
    control.report(summary);
    // Keep the blocks until the test has read the statistics (phase 2), then free them (the main thread checks coalescing).
    control.waitPhase(2);
    for (const l of live) l.h.free();
    return { ...summary, live: 0, liveBytes: 0 };
  } finally {
    sdk.close();
  }
});
