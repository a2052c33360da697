/**
 * Backend registry: the one exhaustive dispatch from a target to its backend.
 *
 * @module
 */
import { match } from "ts-pattern";
import type { Target } from "../sdk/targets.ts";
import { aarch64Backend } from "./aarch64.ts";
import type { ArchBackend } from "./backend.ts";
import { loongarch64Backend } from "./loongarch64.ts";
import { riscv32Backend, riscv64Backend } from "./riscv.ts";
import { x86_64Backend } from "./x86_64.ts";

/** The backend generating code for a target. */
export function backendFor(target: Target): ArchBackend {
  return match(target)
    .returnType<ArchBackend>()
    .with("x86_64", () => x86_64Backend)
    .with("aarch64", () => aarch64Backend)
    .with("riscv64", () => riscv64Backend)
    .with("riscv32", () => riscv32Backend)
    .with("loongarch64", () => loongarch64Backend)
    .exhaustive();
}
