/**
 * One CPU of the ffi-workers example: loads the same library as the main
 * thread (a warm cache hit, no compiler runs), binds this thread to its CPU
 * and handles its share of the packets through the generated accessors.
 */
import net, { NET_STATS, PACKETS } from "./percpu.config.ts";

/** What the main thread asks a Worker to do. */
export interface Task {
  readonly cpus: number;
  readonly cpu: number;
  readonly packets: number;
}

/** What a Worker reports back. */
export type Report =
  | { readonly cpu: number; readonly ok: true; readonly packets: bigint; readonly register: bigint }
  | { readonly cpu: number; readonly ok: false; readonly error: string };

const scope = globalThis as unknown as {
  onmessage: ((e: { data: Task }) => void) | null;
  postMessage(report: Report): void;
  close(): void;
};

scope.onmessage = async ({ data: task }) => {
  try {
    await net.load({ cpus: task.cpus });
    net.initPercpuReg(task.cpu); // this thread's GS base = area `cpu`: from here on it is that CPU
    for (let i = 0; i < task.packets; i++) {
      PACKETS.addCurrent(1n); // one `add %gs:off` in the generated code, no lock
      NET_STATS.writeCurrent({ last_size: 64 + i % 1436, drops: 0 });
    }
    scope.postMessage({ cpu: task.cpu, ok: true, packets: PACKETS.readCurrent(), register: net.readPercpuReg() });
  } catch (e) {
    scope.postMessage({ cpu: task.cpu, ok: false, error: e instanceof Error ? e.message : String(e) });
  } finally {
    net.close();
    scope.close();
  }
};
