// PLACEHOLDER until the x86_64 backend lands (being written in this session).
import type { ArchBackend } from "./backend.ts";
import { fail } from "../sdk/errors.ts";
/** The x86_64 backend. */
export const x86_64Backend: ArchBackend = {
  arch: "x86_64",
  registerName: "GS_BASE",
  clangFlags: [],
  supportsUserMode: false,
  check: () => fail("build_failed", [], "x86_64 backend not implemented yet"),
  assembly: () => "",
  inlineC: () => "",
};
