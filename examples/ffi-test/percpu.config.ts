/**
 * The config under test: a network driver's per-CPU packet counters and a
 * per-CPU scratch buffer descriptor.
 */
import { array, createPercpu, struct, u16, u32, u64 } from "../../mod.ts";

const driver = createPercpu();

/** Packets and bytes received on each CPU's RX queue. */
export const RX = driver.define("RX", struct({ packets: u64, bytes: u64, drops: u32 }), { packets: 0, bytes: 0, drops: 0 });
/** Which RX queue each CPU polls. */
export const QUEUE = driver.define("QUEUE", u16, 0xffff);
/** Histogram of packet sizes in 8 buckets. */
export const SIZES = driver.define("SIZES", array(u32, 8), [0, 0, 0, 0, 0, 0, 0, 0]);

export default driver;

