/**
 * The per-CPU variables of the ffi-workers example: a packet counter and a
 * struct of per-CPU statistics, as a network stack would keep them.
 */
import { createPercpu, struct, u32, u64 } from "../../mod.ts";

const net = createPercpu();

/** Packets handled on each CPU. */
export const PACKETS = net.define("PACKETS", u64, 0);
/** Per-CPU statistics: the last packet's size and how many were dropped. */
export const NET_STATS = net.define("NET_STATS", struct({ last_size: u32, drops: u32 }), { last_size: 0, drops: 0 });

export default net;
