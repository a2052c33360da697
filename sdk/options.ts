/**
 * zod validation at the API boundary, turned into `PercpuError`s that list
 * every issue with its path.
 *
 * @module
 */
import type { z } from "zod";
import { fail, formatPath, type PathSegment } from "./errors.ts";

/** One issue, its path made absolute. */
interface FlatIssue {
  readonly path: readonly PathSegment[];
  readonly message: string;
}

/**
 * An issue with its path; a union whose value has the shape of exactly one
 * branch (a list, not an object) reports that branch's issues instead of zod's
 * bare "Invalid input".
 */
function flatten(issue: z.core.$ZodIssue, prefix: readonly PathSegment[]): FlatIssue[] {
  const path = [...prefix, ...issue.path.filter((p): p is string | number => typeof p !== "symbol")];
  if (issue.code === "invalid_union") {
    const shaped = issue.errors.filter((branch) => !branch.some((i) => i.code === "invalid_type" && i.path.length === 0));
    if (shaped.length === 1) return shaped[0]!.flatMap((i) => flatten(i, path));
  }
  return [{ path, message: issue.message }];
}

/**
 * Parses `value` with `schema` or throws `options_invalid` listing every issue.
 *
 * @example
 * ```ts
 * import { z } from "zod";
 * import { parseOptions } from "./options.ts";
 * parseOptions(z.strictObject({ cpus: z.number() }), { cpus: 4 }, "boot options"); // { cpus: 4 }
 * ```
 */
export function parseOptions<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issues = result.error.issues.flatMap((i) => flatten(i, []));
  const text = issues.map((i) => `${i.path.length ? `${formatPath(i.path)}: ` : ""}${i.message}`);
  fail("options_invalid", issues[0]?.path ?? [], `Invalid ${what}: ${text.join("; ")}`);
}
