/**
 * Worker script of tests/ffi_binding_test.ts: a thread that loads the same
 * cached library as the test (the same variables), then binds, counts,
 * rebinds and closes on command, answering every command with its outcome.
 *
 * @module
 */
import { createPercpu, PercpuError, type PercpuSdk, type PercpuVar, type ScalarType, u64 } from "../mod.ts";

/** A command of the test to the Worker. */
export type BindCommand =
  | { readonly op: "load"; readonly tag: string; readonly cpus: number }
  | { readonly op: "bind"; readonly cpu: number; readonly shared?: boolean }
  | { readonly op: "add"; readonly n: number }
  | { readonly op: "state" }
  | { readonly op: "close" };

/** The Worker's answer to one command. */
export type BindReply =
  | { readonly ok: true; readonly cpu: number; readonly reg: string; readonly value: string }
  | { readonly ok: false; readonly code: string; readonly message: string };

/** The variables both sides define (the same ones load the same library, whose owner table they share). */
export function defineBinding(tag: string): { sdk: PercpuSdk; X: PercpuVar<ScalarType<"u64">> } {
  const sdk = createPercpu();
  return { sdk, X: sdk.define(`BIND_${tag}`, u64, 0) };
}

const scope = globalThis as unknown as {
  onmessage: ((e: { data: BindCommand }) => void) | null;
  postMessage(msg: BindReply): void;
};

let loaded: ReturnType<typeof defineBinding> | null = null;

async function run(cmd: BindCommand): Promise<BindReply> {
  switch (cmd.op) {
    case "load":
      loaded = defineBinding(cmd.tag);
      await loaded.sdk.load({ cpus: cmd.cpus });
      break;
    case "bind":
      loaded!.sdk.initPercpuReg(cmd.cpu, cmd.shared === undefined ? undefined : { shared: cmd.shared });
      break;
    case "add":
      for (let i = 0; i < cmd.n; i++) loaded!.X.addCurrent(1n);
      break;
    case "state":
      break;
    case "close":
      loaded!.sdk.close();
      return { ok: true, cpu: -1, reg: "", value: "" };
  }
  const sdk = loaded!.sdk;
  const cpu = sdk.native!.currentCpu();
  return {
    ok: true,
    cpu,
    reg: cpu < 0 ? "" : String(sdk.readPercpuReg()),
    value: cpu < 0 ? "" : String(loaded!.X.readCurrent()),
  };
}

scope.onmessage = (e) => {
  run(e.data).then(
    (r) => scope.postMessage(r),
    (err) =>
      scope.postMessage({
        ok: false,
        code: err instanceof PercpuError ? err.code : "(not a PercpuError)",
        message: err instanceof Error ? err.message : String(err),
      }),
  );
};
