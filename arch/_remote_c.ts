/**
 * C bodies of the remote read-modify-write ops (`remote_add`,
 * `remote_cmpxchg`) shared by every arch's `PERCPU_INLINE` accessors and by
 * `percpu.h`'s generic `PERCPU__REMOTE_ADD`/`PERCPU__REMOTE_CMPXCHG`: the
 * compiler's `__atomic` builtins on the remote copy's address (relaxed: atomic,
 * no ordering, as the out-of-line LL/SC lowerings), or a plain load-op-store
 * where the target has no lock-free atomic of that width (64-bit values on
 * riscv32), chosen when generating so no libatomic call is ever emitted.
 *
 * @module
 */
import type { PlacedLeaf } from "../sdk/plan.ts";
import type { RemoteRmwOp } from "../sdk/ops.ts";

/**
 * The C statements of a remote RMW op's `static inline` body on `addr` (a C
 * expression of type `volatile T *`); the parameters are `v` (`remote_add`)
 * or `expected`/`desired` (`remote_cmpxchg`). `lockFreeBytes`: the widest
 * lock-free atomic of the target (its pointer size); wider values get a plain
 * load-op-store.
 *
 * @example
 * ```ts
 * import { remoteRmwC } from "./_remote_c.ts";
 * const leaf = { cType: "uint64_t", size: 8 };
 * remoteRmwC(leaf, "remote_add", "(volatile uint64_t *)p"); // ["uint64_t *p_ = ...", ...]
 * ```
 */
export function remoteRmwC(leaf: Pick<PlacedLeaf, "cType" | "size">, op: RemoteRmwOp, addr: string, lockFreeBytes = 8): string[] {
  const t = leaf.cType;
  const head = `${t} *p_ = (${t} *)${addr};`;
  const atomic = leaf.size <= lockFreeBytes;
  if (op === "remote_add") {
    return [head, atomic ? "__atomic_fetch_add(p_, v, __ATOMIC_RELAXED);" : `*(volatile ${t} *)p_ = (${t})(*(volatile ${t} *)p_ + v);`];
  }
  return [
    head,
    `${t} o_ = expected;`,
    atomic
      ? "__atomic_compare_exchange_n(p_, &o_, desired, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED);"
      : `if ((o_ = *(volatile ${t} *)p_) == expected) *(volatile ${t} *)p_ = desired;`,
    "return o_;",
  ];
}

/**
 * `percpu.h`'s generic remote RMW primitives (every arch uses them; the
 * `_AT` forms are the same macros): `PERCPU__REMOTE_ADD(T, K, a, c, v)` and
 * `PERCPU__REMOTE_CMPXCHG(T, K, a, c, e, d)` on `PERCPU__REMOTE(T, c, a)`.
 * Where some kind is wider than the target's lock-free atomics
 * (`lockFreeBytes`: 4 on riscv32), a `__builtin_choose_expr` on `sizeof(T)`
 * picks the plain load-op-store for those kinds.
 *
 * @example
 * ```ts
 * import { remoteRmwMacros } from "./_remote_c.ts";
 * remoteRmwMacros(8)[0]; // "#define PERCPU__REMOTE_ADD(T, K, a, c, v) ..."
 * ```
 */
export function remoteRmwMacros(lockFreeBytes: number): string[] {
  const vol = "(*(volatile T *)percpu__p_)";
  const pick = (atomic: string, plain: string): string =>
    lockFreeBytes >= 8 ? `${atomic};` : `__builtin_choose_expr(sizeof(T) <= ${lockFreeBytes}, ${atomic}, ${plain});`;
  return [
    `#define PERCPU__REMOTE_ADD(T, K, a, c, v) __extension__({ T percpu__w_ = (T)(v); T *percpu__p_ = (T *)PERCPU__REMOTE(T, c, a); ` +
    `${pick("(void)__atomic_fetch_add(percpu__p_, percpu__w_, __ATOMIC_RELAXED)", `(void)(${vol} = (T)(${vol} + percpu__w_))`)} (void)0; })`,
    `#define PERCPU__REMOTE_CMPXCHG(T, K, a, c, e, d) __extension__({ T percpu__o_ = (T)(e); T percpu__d_ = (T)(d); T *percpu__p_ = (T *)PERCPU__REMOTE(T, c, a); ` +
    `${
      pick(
        "(void)__atomic_compare_exchange_n(percpu__p_, &percpu__o_, percpu__d_, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED)",
        `(void)(${vol} == percpu__o_ ? (void)(${vol} = percpu__d_) : (void)(percpu__o_ = ${vol}))`,
      )
    } percpu__o_; })`,
    "#define PERCPU__REMOTE_ADD_AT PERCPU__REMOTE_ADD",
    "#define PERCPU__REMOTE_CMPXCHG_AT PERCPU__REMOTE_CMPXCHG",
  ];
}
