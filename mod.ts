/**
 * percpu SDK: declare per-CPU variables in a typed DSL; get the `.percpu`
 * layout, per-architecture accessors, runtime and linker script.
 *
 * @example
 * ```ts
 * import { percpu, struct, u32, u64 } from "./mod.ts";
 * export const CPU_ID = percpu.define("CPU_ID", u64, 0);
 * export const STATS = percpu.define("STATS", struct({ irqs: u64, ticks: u32 }), { irqs: 0, ticks: 0 });
 * console.log(percpu.layout("x86_64").stride); // 64
 * ```
 *
 * @module
 */
export { PercpuError, PERCPU_ERROR_CODES, type PercpuErrorCode, type PathSegment, formatPath } from "./sdk/errors.ts";
export {
  aligned,
  array,
  bool,
  f32,
  f64,
  i16,
  i32,
  i64,
  i8,
  isize,
  struct,
  u16,
  u32,
  u64,
  u8,
  u128,
  usize,
  typeName,
  SCALAR_NAMES,
  MAX_ALIGN,
  MAX_TYPE_DEPTH,
  type AlignedType,
  type ArrayType,
  type Infer,
  type InferInit,
  type PercpuType,
  type ScalarName,
  type ScalarType,
  type StructFields,
  type StructType,
} from "./sdk/types.ts";
export { TARGETS, type Target } from "./sdk/targets.ts";
export { type DefineOptions, type FieldLayout, type Layout, type LayoutOrder, type TypeLayout, type VarLayout, typeLayout } from "./sdk/layout.ts";
export { type Manifest, type ManifestType, type ManifestVar, MANIFEST_VERSION } from "./sdk/manifest.ts";
export { decodeValue, encodeValue } from "./sdk/values.ts";
export { createPercpu, type IntegerArgument, type IntegerVarType, percpu, type U128VarType, PercpuSdk, type PercpuOptions, PercpuVar } from "./percpu.ts";
export {
  type ElementType,
  type FieldName,
  type FieldType,
  type LeafHandle,
  type LeafOpMethods,
  type AllocHandle,
  PercpuLeaf,
  type Unaligned,
} from "./percpu.ts";
export { type AllocStats, PercpuAllocation, PercpuCounter } from "./percpu_runtime.ts";
export type { CounterOptions } from "./sdk/counters.ts";
export type { Features, GenConfig, GenerateOptions, Mode } from "./sdk/config.ts";
export type { Generated, GeneratedFiles } from "./emit/index.ts";
export type { AreaBase, BindOptions, CurrentCell, HookCounts, InitOptions, LoadInfo, LoadOptions } from "./ffi/native.ts";
export type {
  BootFirmwareOptions,
  BootResult,
  BuildFirmwareOptions,
  FirmwareFailure,
  FirmwareImage,
} from "./firmware/build.ts";
export type { FirmwarePlatform } from "./firmware/platform.ts";
export type { ProgramOptions } from "./firmware/program.ts";
