/**
 * The firmware platform contract (one implementation per architecture under
 * `firmware/`) and the helpers the implementations share. It imports none of
 * them: `platforms.ts` is the registry that dispatches from a target to its
 * platform. A platform knows how its QEMU machine boots, where its UART and
 * exit device are, and how to start the other CPUs; everything else about the
 * firmware (test program, linker script, build and boot) is shared.
 *
 * @module
 */
import type { Target } from "../sdk/targets.ts";

/** Bytes of stack per CPU: CPU i's stack top is `__fw_stack_top - i * FW_STACK_SIZE`. */
export const FW_STACK_SIZE = 16384;

/** What a platform's generators get: the CPU count the image is built for and the aarch64 EL2 flag. */
export interface PlatformConfig {
  readonly cpus: number;
  readonly el2: boolean;
  /** aarch64 `lse` images need a CPU with ARMv8.1 atomics (QEMU `-cpu max`). */
  readonly lse?: boolean;
}

/** A QEMU command line. */
export interface QemuCommand {
  readonly command: string;
  readonly args: string[];
}

/**
 * One architecture's bare-metal machine under QEMU: link address, boot stub,
 * UART/exit drivers and the QEMU command line.
 */
export interface FirmwarePlatform {
  readonly arch: Target;
  /**
   * Most CPUs this machine and this firmware can run (QEMU 7.2): `buildFirmware`
   * and `bootFirmware` reject more up front with `cpus_over_machine_limit`.
   */
  readonly maxCpus: number;
  /** Link address of the image (.text starts here). */
  readonly loadAddress: number;
  /** Extra clang flags for firmware C/asm on top of backendFor(arch).clangFlags (e.g. -mstrict-align). */
  readonly cflags: readonly string[];
  /**
   * GNU-as source of the boot stub, section `.text.boot`, global `_start`: every CPU ends up calling
   * `void fw_main(uintptr_t cpu)` on its own stack: stack top for CPU i = `__fw_stack_top - i * FW_STACK_SIZE`
   * (symbols from the firmware linker script; FW_STACK_SIZE = 16384). CPU 0 enters first; other CPUs are
   * started by `void fw_start_cpu(uintptr_t cpu)` (C-callable, from the stub) when the machine needs it (PSCI CPU_ON
   * / INIT-SIPI), or are already running (riscv -bios none, loongarch 7.2) and wait in the stub until
   * `fw_main(0)` releases them via the shared word `fw_release` (volatile u32 written 1 by CPU 0).
   */
  bootAsm(cfg: PlatformConfig): string;
  /**
   * C source defining `void fw_putc(char c)` (UART) and `void fw_exit(int code)` (0 = pass, else fail; never returns)
   * plus `void fw_start_cpu(uintptr_t cpu)` if the stub doesn't define it (may be a no-op).
   */
  platformC(cfg: PlatformConfig): string;
  /** QEMU command for an image (from DESIGN.md recipes; -smp cpus; el2 -> virtualization=on on aarch64). */
  qemu(image: string, cfg: PlatformConfig): QemuCommand;
  /** Maps QEMU's process exit status to the firmware's code (x86 isa-debug-exit: (code<<1)|1 -> code). */
  exitCode(status: number): number;
}

/** A number as a C/asm hex literal without suffix: `0x1fe001e0`. */
export function hex(n: number): string {
  return `0x${n.toString(16)}`;
}

/**
 * C drivers shared by the machines whose CPUs all start at the entry point and
 * whose console is an ns16550-compatible UART (riscv and loongarch `virt`):
 * `fw_putc` (poll LSR bit 5 "THR empty", write THR), a no-op `fw_start_cpu`,
 * and `fw_trap(a, b, c)` printing `fw trap <names>=0x...` then `fw_exit(trapExitCode)`.
 */
export function ns16550DriversC(uartBase: number, trapNames: readonly [string, string, string], trapExitCode: number): string {
  const [a, b, c] = trapNames;
  return `#define FW_UART ((volatile uint8_t *)${hex(uartBase)}UL)

void fw_putc(char c);
void fw_start_cpu(uintptr_t cpu);
void fw_trap(uintptr_t ${a}, uintptr_t ${b}, uintptr_t ${c});
void fw_exit(int code);

/* ns16550: wait for THR empty (LSR bit 5), then write the byte. */
void fw_putc(char c) {
  while ((FW_UART[5] & 0x20) == 0) {
  }
  FW_UART[0] = (uint8_t)c;
}

/* All CPUs already run; they wait in the stub for fw_release. */
void fw_start_cpu(uintptr_t cpu) {
  (void)cpu;
}

static void fw_trap_puts(const char *s) {
  while (*s) fw_putc(*s++);
}

static void fw_trap_hex(uintptr_t v) {
  fw_trap_puts("0x");
  for (int shift = (int)sizeof(uintptr_t) * 8 - 4; shift >= 0; shift -= 4) fw_putc("0123456789abcdef"[(v >> shift) & 0xf]);
}

/* Called by the stub on an unexpected trap. */
void fw_trap(uintptr_t ${a}, uintptr_t ${b}, uintptr_t ${c}) {
  fw_trap_puts("\\nfw trap ${a}=");
  fw_trap_hex(${a});
  fw_trap_puts(" ${b}=");
  fw_trap_hex(${b});
  fw_trap_puts(" ${c}=");
  fw_trap_hex(${c});
  fw_trap_puts("\\n");
  fw_exit(${trapExitCode});
}
`;
}

