// PLACEHOLDER until the loongarch64 backend lands (being written in this session).
import type { ArchBackend } from "./backend.ts";
import { fail } from "../sdk/errors.ts";
/** The loongarch64 backend. */
export const loongarch64Backend: ArchBackend = {
  arch: "loongarch64",
  registerName: "$r21",
  clangFlags: [],
  supportsUserMode: false,
  check: () => fail("build_failed", [], "loongarch64 backend not implemented yet"),
  assembly: () => "",
  inlineC: () => "",
};
