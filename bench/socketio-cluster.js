// socketio-cluster.js — examples/socketio-server/server.js in several
// processes behind one port, for runs with more sockets than one process may
// open here (20,000 files). Node's cluster module with SCHED_NONE: every
// worker accepts from the one shared listening socket itself, where the
// default round-robin has the primary accept every connection and pass it
// to a worker over IPC, one more single-threaded step on each connect. Each
// worker is an independent Socket.IO server (no shared rooms: fine for the
// echo workloads that use it; no sticky sessions are needed because clients
// use the WebSocket transport only).
//
//   node bench/socketio-cluster.js --port N [--workers W]
//
// Prints `listening N` once every worker accepts; SIGTERM/SIGINT stop all.
"use strict";

const cluster = require("node:cluster");
const path = require("node:path");

function option(name, def) {
  const i = process.argv.indexOf("--" + name);
  return i >= 0 && i + 1 < process.argv.length ? Number(process.argv[i + 1]) : def;
}

if (cluster.isPrimary) {
  const port = option("port", 0);
  const workers = option("workers", 4);
  if (!port || !(workers >= 1)) {
    process.stderr.write("usage: node socketio-cluster.js --port N [--workers W]\n");
    process.exit(2);
  }
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  let ready = 0;
  // Workers' own "listening" lines are dropped; the primary prints one.
  cluster.setupPrimary({ stdio: ["ignore", "ignore", "inherit", "ipc"] });
  for (let i = 0; i < workers; i++) cluster.fork({ PORT: String(port) });
  cluster.on("listening", () => {
    if (++ready === workers) process.stdout.write(`listening ${port}\n`);
  });
  cluster.on("exit", (w, code, sig) => {
    if (!stopping) {
      process.stderr.write(`worker ${w.process.pid} exited (${sig || code})\n`);
      process.exitCode = 1;
    }
  });
  let stopping = false;
  for (const sig of ["SIGINT", "SIGTERM"]) {
    process.on(sig, () => {
      stopping = true;
      for (const w of Object.values(cluster.workers)) w.kill("SIGTERM");
      setTimeout(() => process.exit(process.exitCode || 0), 2000).unref();
    });
  }
} else {
  require(path.join(__dirname, "..", "examples", "socketio-server", "server.js"));
}
