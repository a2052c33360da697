/**
 * The firmware platform registry: the one module that imports every
 * architecture's platform and dispatches from a target to it (the contract
 * they implement is in `platform.ts`).
 *
 * @module
 */
import { match } from "ts-pattern";
import type { Target } from "../sdk/targets.ts";
import { aarch64Platform } from "./aarch64.ts";
import { loongarch64Platform } from "./loongarch64.ts";
import type { FirmwarePlatform } from "./platform.ts";
import { riscv32Platform, riscv64Platform } from "./riscv.ts";
import { x86_64Platform } from "./x86_64.ts";

/**
 * The firmware platform of a target.
 *
 * @example
 * ```ts
 * import { platformFor } from "./platforms.ts";
 * const { command } = platformFor("aarch64").qemu("fw.elf", { cpus: 4, el2: false });
 * // command === "qemu-system-aarch64"
 * ```
 */
export function platformFor(arch: Target): FirmwarePlatform {
  return match(arch)
    .returnType<FirmwarePlatform>()
    .with("x86_64", () => x86_64Platform)
    .with("aarch64", () => aarch64Platform)
    .with("riscv64", () => riscv64Platform)
    .with("riscv32", () => riscv32Platform)
    .with("loongarch64", () => loongarch64Platform)
    .exhaustive();
}
