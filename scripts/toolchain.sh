#!/usr/bin/env bash
# Installs the toolchain the SDK builds and boots with, only what is missing:
# clang-19, lld-19, llvm-19, QEMU for x86_64, aarch64, riscv and loongarch, and
# Debian's rustc-web with its library sources (rust-web-src), from which the Rust
# firmware builds core for the bare-metal targets (firmware/rust_build.ts).
set -euo pipefail
need=()
for pair in clang-19:clang-19 ld.lld-19:lld-19 llvm-objdump-19:llvm-19 \
            qemu-system-x86_64:qemu-system-x86 qemu-system-aarch64:qemu-system-arm \
            qemu-system-riscv64:qemu-system-misc qemu-system-loongarch64:qemu-system-misc cc:gcc; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair#*:}")
done
[ -f /usr/share/qemu/qboot.rom ] || need+=(qemu-system-data)
[ -x /usr/bin/rustc ] || need+=(rustc-web)
release=""; [ -x /usr/bin/rustc ] && release="$(/usr/bin/rustc -vV | sed -n 's/^release: //p')"
[ -n "$release" ] && [ -f "/usr/src/rustc-$release/library/core/src/lib.rs" ] || need+=(rust-web-src)
if [ ${#need[@]} -gt 0 ]; then
  mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)
  echo "installing: ${need[*]}"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
echo "toolchain ready: $(clang-19 --version | head -n 1); $(qemu-system-x86_64 --version | head -n 1); $(/usr/bin/rustc --version)"
