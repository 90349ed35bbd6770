/**
 * Processes for the bench: free loopback ports, process groups that always end, and what
 * /proc says about a server (RSS of each process, CPU time of the whole group). Linux only.
 */
import { spawn } from "node:child_process";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { createServer } from "node:net";

/** `count` free TCP ports on 127.0.0.1 (held together, then released). */
export async function freePorts(count) {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise((resolve, reject) => {
          const server = createServer();
          server.once("error", reject);
          server.listen(0, "127.0.0.1", () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((server) => server.address().port);
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

/**
 * Every live process group this module started. If the bench exits without stopping them (a
 * crash, process.exit), they are killed synchronously on the way out. Signals are the
 * orchestrator's to handle: it stops the servers, then exits.
 */
const groups = new Set();
let guardInstalled = false;

function installGuard() {
  if (guardInstalled) return;
  guardInstalled = true;
  process.on("exit", () => {
    for (const pgid of groups) signalGroup(pgid, "SIGKILL");
  });
}

export function signalGroup(pgid, signal) {
  try {
    process.kill(-pgid, signal);
  } catch {
    // the group is gone
  }
}

export function groupAlive(pgid) {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (error) {
    return error.code === "EPERM";
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Spawns `command` in its own process group (so it and its children can be stopped together),
 * keeping the last 256 KiB of its output. `stop()` sends SIGTERM to the group, then SIGKILL.
 */
export function spawnGroup(command, args, { cwd, env, label, onOutput } = {}) {
  installGuard();
  const child = spawn(command, args, { cwd, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  let written = 0; // characters ever recorded, so that marks survive the trimming
  const record = (chunk) => {
    const text = chunk.toString("utf8");
    written += text.length;
    output = (output + text).slice(-256 * 1024);
    onOutput?.(chunk);
  };
  child.stdout.on("data", record);
  child.stderr.on("data", record);
  let spawnError;
  const exited = new Promise((resolve) => {
    child.once("exit", (code, signal) => resolve({ code, signal }));
    child.once("error", (error) => {
      spawnError = error;
      record(Buffer.from(`\n[bench] could not start ${label ?? command}: ${error.message}\n`));
      resolve({ code: null, signal: null });
    });
  });
  const pgid = child.pid;
  if (pgid !== undefined) groups.add(pgid);
  let stopping = null;
  const stop = () => {
    stopping ??= (async () => {
      if (pgid === undefined) return;
      signalGroup(pgid, "SIGTERM");
      const deadline = Date.now() + 5_000;
      await Promise.race([exited, sleep(5_000)]);
      while (groupAlive(pgid) && Date.now() < deadline) await sleep(50);
      if (groupAlive(pgid)) {
        signalGroup(pgid, "SIGKILL");
        const killDeadline = Date.now() + 5_000;
        while (groupAlive(pgid) && Date.now() < killDeadline) await sleep(50);
      }
      groups.delete(pgid);
    })();
    return stopping;
  };
  return {
    child,
    pgid,
    exited,
    output: () => output,
    /** A position in the output, for outputSince(). */
    outputMark: () => written,
    /** What was recorded after `mark` (as much of it as is still kept). */
    outputSince: (mark) => output.slice(Math.max(0, output.length - (written - mark))),
    spawnError: () => spawnError,
    running: () => child.exitCode === null && child.signalCode === null && spawnError === undefined,
    stop,
  };
}

/** Polls `url` until it answers 2xx, the process dies, or the timeout passes. */
export async function waitHealthy(url, proc, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let last = "no answer yet";
  while (Date.now() < deadline) {
    if (proc.spawnError()) throw proc.spawnError();
    if (!proc.running()) throw new Error(`exited (code ${proc.child.exitCode}, signal ${proc.child.signalCode})`);
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      await response.arrayBuffer();
      if (response.ok) return;
      last = `HTTP ${response.status}`;
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    }
    await sleep(150);
  }
  throw new Error(`no healthy ${url} within ${timeoutMs} ms (last: ${last})`);
}

const CLOCK_TICKS = 100; // USER_HZ on Linux
const PAGE_KB = 4;

/** One process from /proc/<pid>/stat: name, group, parent, CPU seconds, RSS KiB. */
function readStat(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    const close = text.lastIndexOf(")");
    const comm = text.slice(text.indexOf("(") + 1, close);
    const fields = text
      .slice(close + 2)
      .trim()
      .split(" ");
    // fields[0] is field 3 (state): ppid=4, pgrp=5, utime=14, stime=15, rss=24
    return {
      pid,
      comm,
      ppid: Number(fields[1]),
      pgid: Number(fields[2]),
      cpuSeconds: (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS,
      rssKiB: Number(fields[21]) * PAGE_KB,
    };
  } catch {
    return null;
  }
}

/** VmRSS of one process in KiB, from /proc/<pid>/status (null when it is gone). */
export function vmRssKiB(pid) {
  try {
    const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match ? Number(match[1]) : null;
  } catch {
    return null;
  }
}

/** Every process of the group `pgid` (and their descendants, should one have left the group). */
export function groupProcesses(pgid) {
  const all = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const stat = readStat(Number(name));
    if (stat) all.push(stat);
  }
  const members = new Map(all.filter((p) => p.pgid === pgid || p.pid === pgid).map((p) => [p.pid, p]));
  let grew = true;
  while (grew) {
    grew = false;
    for (const p of all) {
      if (!members.has(p.pid) && members.has(p.ppid)) {
        members.set(p.pid, p);
        grew = true;
      }
    }
  }
  return [...members.values()];
}

/** The command line of a process ("" when it is gone). */
export function cmdline(pid) {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ");
  } catch {
    return "";
  }
}

/**
 * A snapshot of a server's group: total CPU seconds, and CPU seconds and VmRSS (KiB) of the
 * processes that `roleOf(process)` names, by role (e.g. "runtime", "dev-proxy"; null leaves a
 * process out of the per-role figures and of the RSS).
 */
export function sampleGroup(pgid, roleOf) {
  const procs = groupProcesses(pgid);
  let rssKiB = 0;
  const rssPids = [];
  const rssByRole = {};
  const cpuSecondsByRole = {};
  for (const p of procs) {
    const role = roleOf(p);
    if (!role) continue;
    cpuSecondsByRole[role] = (cpuSecondsByRole[role] ?? 0) + p.cpuSeconds;
    const rss = vmRssKiB(p.pid);
    if (rss === null) continue;
    rssKiB += rss;
    rssByRole[role] = (rssByRole[role] ?? 0) + rss;
    rssPids.push({ pid: p.pid, comm: p.comm, role, rssKiB: rss });
  }
  return {
    at: performance.now(),
    cpuSeconds: procs.reduce((sum, p) => sum + p.cpuSeconds, 0),
    cpuSecondsByRole,
    rssKiB,
    rssByRole,
    rssPids,
    processes: procs.map((p) => p.comm),
  };
}

/** The socket inodes of process `pid` (from /proc/<pid>/fd). */
function socketInodes(pid) {
  const inodes = new Set();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (match) inodes.add(match[1]);
    } catch {
      // closed meanwhile
    }
  }
  return inodes;
}

/** TCP sockets of `pid` in `state` (hex, as /proc/net/tcp: 0A LISTEN, 01 ESTABLISHED): local and remote port. */
function tcpSockets(pid, state) {
  const inodes = socketInodes(pid);
  const sockets = [];
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text = "";
    try {
      text = readFileSync(file, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/);
      // fields: sl local_address rem_address st ... inode (10th)
      if (fields[3] !== state || !inodes.has(fields[9])) continue;
      const port = (address) => Number.parseInt(address.split(":").at(-1), 16);
      sockets.push({ local: port(fields[1]), remote: port(fields[2]) });
    }
  }
  return sockets;
}

/** The TCP ports process `pid` listens on (from /proc/<pid>/fd and /proc/net/tcp{,6}). */
export function listeningPorts(pid) {
  return tcpSockets(pid, "0A").map((socket) => socket.local);
}

/** The remote ports of the TCP connections process `pid` has established. */
export function connectedPorts(pid) {
  return tcpSockets(pid, "01").map((socket) => socket.remote);
}
