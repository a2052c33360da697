// PLACEHOLDER until the riscv backend lands (being written in this session).
import type { ArchBackend } from "./backend.ts";
import { fail } from "../sdk/errors.ts";
/** The riscv64 backend. */
export const riscv64Backend: ArchBackend = {
  arch: "riscv64", registerName: "gp", clangFlags: [], supportsUserMode: false,
  check: () => fail("build_failed", [], "riscv backend not implemented yet"), assembly: () => "", inlineC: () => "",
};
/** The riscv32 backend. */
export const riscv32Backend: ArchBackend = { ...riscv64Backend, arch: "riscv32" };
