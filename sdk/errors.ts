/**
 * Errors raised by the SDK. Every error has a stable {@link PercpuErrorCode},
 * the path of the offending variable/field (`["STATS", "hist", 2]`) and a
 * sentence-case message that names it.
 *
 * @module
 */

/** Every stable error code the SDK can raise. */
export const PERCPU_ERROR_CODES = [
  // names
  "name_not_identifier",
  "name_reserved_word",
  "name_reserved_prefix",
  "name_double_underscore",
  "name_duplicate",
  "name_symbol_clash",
  "name_too_long",
  // types
  "type_unknown",
  "type_struct_empty",
  "type_array_length",
  "type_alignment_not_power_of_two",
  "type_alignment_too_large",
  "type_alignment_not_integer",
  "type_field_name",
  "type_too_large",
  "type_too_deep",
  "type_not_on_target",
  // initial values
  "init_wrong_kind",
  "init_not_integer",
  "init_nan",
  "init_unsafe_number",
  "init_out_of_range",
  "init_missing_field",
  "init_extra_field",
  "init_array_length",
  "init_float_out_of_range",
  // lifecycle and options
  "sealed",
  "target_unknown",
  "options_invalid",
  "offset_out_of_reach",
  "area_too_large",
  // native (FFI) use
  "native_not_loaded",
  "native_closed",
  "native_not_initialised",
  "native_cpu_out_of_range",
  "native_value_out_of_range",
  "value_out_of_range",
  "value_wrong_kind",
  "cpu_already_bound",
  "thread_bound_elsewhere",
  "init_invalid_base",
  "init_unaligned_base",
  "native_unsupported_runtime",
  "native_build_failed",
  // per-CPU counters and dynamic allocation
  "alloc_exhausted",
  "alloc_freed",
  "alloc_unavailable",
  // toolchain and firmware
  "toolchain_missing",
  "build_failed",
  "boot_failed",
  "cpus_over_machine_limit",
  // writing generated files
  "out_dir_empty",
  "out_dir_not_directory",
  "out_file_name_invalid",
  "out_file_is_directory",
  "write_timeout",
  "write_failed",
  "config_invalid",
] as const;

/** A stable, machine-readable error code. */
export type PercpuErrorCode = typeof PERCPU_ERROR_CODES[number];

/** One step of a path into a variable: a field name or an array index. */
export type PathSegment = string | number;

/** Formats a path as `STATS.hist[2]`. */
export function formatPath(path: readonly PathSegment[]): string {
  let out = "";
  for (const segment of path) {
    if (typeof segment === "number") out += `[${segment}]`;
    else out += out === "" ? segment : `.${segment}`;
  }
  return out;
}

/**
 * The one error type the SDK throws for bad input or misuse.
 *
 * @example
 * ```ts
 * import { createPercpu, PercpuError, u8 } from "../mod.ts";
 * try {
 *   createPercpu().define("COUNT", u8, 256);
 * } catch (e) {
 *   if (e instanceof PercpuError) console.log(e.code, e.path); // init_out_of_range ["COUNT"]
 *   else throw e;
 * }
 * ```
 */
export class PercpuError extends Error {
  /** Stable code for programmatic handling. */
  readonly code: PercpuErrorCode;
  /** Variable name followed by field names / array indices. */
  readonly path: readonly PathSegment[];

  /** Creates an error; `message` should already name the path. */
  constructor(code: PercpuErrorCode, path: readonly PathSegment[], message: string) {
    super(message);
    this.name = "PercpuError";
    this.code = code;
    this.path = path;
  }
}

/** Quotes a path for a message: `"STATS.hist[2]"`. */
export function quotePath(path: readonly PathSegment[]): string {
  return `"${formatPath(path)}"`;
}

/** Throws a {@link PercpuError}; `message` is complete and names the path. */
export function fail(code: PercpuErrorCode, path: readonly PathSegment[], message: string): never {
  throw new PercpuError(code, path, message);
}
