/** What the whole machine did during a job: busy CPU seconds from /proc/stat (Linux). */
import { readFileSync } from "node:fs";

const CLOCK_TICKS = 100;

/** Total busy CPU seconds of the machine so far (all cores), or null off Linux. */
export function machineBusySeconds() {
  try {
    const line = readFileSync("/proc/stat", "utf8").split("\n")[0];
    const [, ...fields] = line.trim().split(/\s+/);
    // user nice system idle iowait irq softirq steal: everything but idle and iowait is busy
    const [user, nice, system, , , irq, softirq, steal] = fields.map(Number);
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS;
  } catch {
    return null;
  }
}
