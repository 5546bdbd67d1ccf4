/**
 * One thread of the matmul pool (src/backends/pool.ts; plain JavaScript so it runs under node, tsx and vitest
 * alike). It sleeps in Atomics.wait on the control block, and for each job claims column tiles with a
 * compare-and-swap until none are left, running the WASM kernel on each. The control layout is the CTRL table in
 * pool.ts. Errors are reported through the control block (and the message text through the port) because the
 * main thread is blocked in Atomics.wait and cannot receive events while a job runs.
 */
import { receiveMessageOnPort, workerData } from "node:worker_threads";

const { module, control, index, id, memories, port, seq0 } = workerData;
const C = workerData.layout;
const ctrl = new Int32Array(control);
/** One kernel instance per arena, all on the same shared memories as the main thread's. */
const instances = memories.map((memory) => new WebAssembly.Instance(module, { env: { memory } }).exports);

let reported = false;
function report(message) {
  if (reported) return;
  reported = true;
  try {
    port.postMessage(message);
  } catch {
    // the port may already be closed while the thread exits
  }
  Atomics.store(ctrl, C.ERR, id);
  Atomics.notify(ctrl, C.DONE);
}
// process.exit() inside a worker (or its thread being torn down by an exit) runs this: the caller stops waiting.
process.on("exit", (code) => report(`matmul worker ${index} exited (code ${code})`));

function drainPort() {
  for (let m = receiveMessageOnPort(port); m !== undefined; m = receiveMessageOnPort(port)) {
    const msg = m.message;
    if (msg.memory) instances[msg.index] = new WebAssembly.Instance(module, { env: { memory: msg.memory } }).exports;
  }
}

function runTile(tile) {
  const N = ctrl[C.N];
  const n0 = tile * ctrl[C.TILE];
  const n1 = Math.min(N, n0 + ctrl[C.TILE]);
  const k = instances[ctrl[C.ARENA]];
  const kind = ctrl[C.KIND];
  const x = ctrl[C.X] >>> 0;
  const w = ctrl[C.W] >>> 0;
  const bias = ctrl[C.BIAS] >>> 0;
  const out = ctrl[C.OUT] >>> 0;
  const M = ctrl[C.M];
  const K = ctrl[C.K];
  if (kind === 0) k.linearF32(x, w, bias, out, M, K, N, n0, n1);
  else if (kind === 1 || kind === 2)
    k.linearHalfPanel(
      x,
      w,
      bias,
      out,
      M,
      K,
      N,
      n0,
      n1,
      kind,
      (ctrl[C.PANEL] >>> 0) + (index + 1) * ctrl[C.PANEL_STRIDE],
    );
  else k.linearHalfGemv(x, w, bias, out, M, K, N, n0, n1, kind - 2);
}

let seen = seq0;
for (;;) {
  Atomics.wait(ctrl, C.SEQ, seen);
  const seq = Atomics.load(ctrl, C.SEQ);
  if (seq === seen) continue;
  seen = seq;
  drainPort();
  Atomics.store(ctrl, C.BUSY + index, seq);
  try {
    if (Atomics.load(ctrl, C.FAULT_WORKER) === index + 1) {
      // test hook (WasmSimdBackend._injectWorkerFault): fail the way a broken worker would
      const mode = Atomics.load(ctrl, C.FAULT_MODE);
      Atomics.store(ctrl, C.FAULT_WORKER, 0);
      if (mode === 2) process.exit(70);
      throw new Error(`injected fault in matmul worker ${index}`);
    }
    const tag = (seq & 0x7fff) << 16;
    for (;;) {
      const c = Atomics.load(ctrl, C.CLAIM);
      if ((c & 0x7fff0000) !== tag) break;
      const t = c & 0xffff;
      if (t >= Atomics.load(ctrl, C.NTILES)) break;
      if (Atomics.compareExchange(ctrl, C.CLAIM, c, c + 1) !== c) continue;
      // the tile is ours: the job's parameters cannot change until it is reported done
      runTile(t);
      if (Atomics.add(ctrl, C.DONE, 1) + 1 === ctrl[C.NTILES]) Atomics.notify(ctrl, C.DONE);
    }
  } catch (e) {
    report(`matmul worker ${index}: ${e && e.stack ? e.stack : String(e)}`);
    reported = false;
  }
  Atomics.store(ctrl, C.BUSY + index, 0);
}
