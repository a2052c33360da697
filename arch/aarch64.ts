// PLACEHOLDER until the aarch64 backend lands (being written in this session).
import type { ArchBackend } from "./backend.ts";
import { fail } from "../sdk/errors.ts";
/** The aarch64 backend. */
export const aarch64Backend: ArchBackend = {
  arch: "aarch64",
  registerName: "TPIDR_EL1",
  clangFlags: [],
  supportsUserMode: false,
  check: () => fail("build_failed", [], "aarch64 backend not implemented yet"),
  assembly: () => "",
  inlineC: () => "",
};
