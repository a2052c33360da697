/**
 * `percpu boot`: build and boot the firmware (wired up once firmware/ lands).
 *
 * @module
 */
import { HELP } from "./main.ts";
import { parse } from "./usage.ts";

/** Runs the boot verb. */
export async function boot(argv: string[], out: (s: string) => void): Promise<number> {
  const { values } = parse(argv, { arch: { type: "string" }, cpus: { type: "string" }, preempt: { type: "boolean" }, irq: { type: "boolean" }, el2: { type: "boolean" }, "timeout-ms": { type: "string" } });
  if (values.help) return (out(HELP.boot!), 0);
  return 1;
}
