/**
 * zod validation at the API boundary, turned into `PercpuError`s that list
 * every issue with its path.
 *
 * @module
 */
import type { z } from "zod";
import { fail, formatPath } from "./errors.ts";

/** Parses `value` with `schema` or throws `options_invalid` listing every issue. */
export function parseOptions<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issues = result.error.issues.map((i) => {
    const path = i.path.filter((p): p is string | number => typeof p !== "symbol");
    return `${path.length ? `${formatPath(path)}: ` : ""}${i.message}`;
  });
  const first = result.error.issues[0]?.path.filter((p): p is string | number => typeof p !== "symbol") ?? [];
  fail("options_invalid", first, `Invalid ${what}: ${issues.join("; ")}`);
}
