// A Socket.IO v4 chat server to point wsbench's `protocol: socketio`
// scenarios at (examples/socketio-chat.yaml) and the target of the
// scenario package's Socket.IO tests.
//
//   node server.js [--port N] [--ping-interval MS] [--ping-timeout MS]
//
// PORT, PING_INTERVAL and PING_TIMEOUT in the environment work too. Port 0
// (the default) picks a free port; the server prints `listening PORT` on
// stdout once it accepts connections.
//
// Main namespace "/":
//   join (room, ack?)        joins room; ack({room, members})
//   say {room, ...}          "said" {…the same fields…, from: socket id}
//                            to every member of room (sender included);
//                            every field (ts, seq) is carried through
//   echo (...args, ack?)     ack(...args), or emits "echo" with the args
//   bin (buffer, ack?)       emits "bin" with the same bytes back and
//                            acks {len}
//   whoami (ack)             ack({id, auth})
// Namespace "/admin": refuses a handshake without auth {token: "secret"}
// ("not authorized"); its "stats" (ack) answers {sockets}.
"use strict";

const http = require("http");
const { Server } = require("socket.io");

function option(name, env, def) {
  const i = process.argv.indexOf("--" + name);
  if (i >= 0 && i + 1 < process.argv.length) return Number(process.argv[i + 1]);
  if (process.env[env] !== undefined) return Number(process.env[env]);
  return def;
}

const port = option("port", "PORT", 0);
const pingInterval = option("ping-interval", "PING_INTERVAL", 25000);
const pingTimeout = option("ping-timeout", "PING_TIMEOUT", 20000);

const httpServer = http.createServer((req, res) => {
  res.writeHead(404, { "Content-Type": "text/plain" });
  res.end("not a socket.io path\n");
});
const io = new Server(httpServer, {
  pingInterval,
  pingTimeout,
  maxHttpBufferSize: 1e6,
  serveClient: false,
});

function ackOf(args) {
  return args.length > 0 && typeof args[args.length - 1] === "function" ? args.pop() : null;
}

io.on("connection", (socket) => {
  socket.on("join", (...args) => {
    const ack = ackOf(args);
    const room = String(args[0]);
    socket.join(room);
    if (ack) ack({ room, members: io.sockets.adapter.rooms.get(room)?.size ?? 0 });
  });
  socket.on("say", (msg, ack) => {
    if (!msg || typeof msg !== "object" || typeof msg.room !== "string") {
      if (typeof ack === "function") ack({ error: "say needs {room}" });
      return;
    }
    io.to(msg.room).emit("said", { ...msg, from: socket.id });
    if (typeof ack === "function") ack({ ok: true });
  });
  socket.on("echo", (...args) => {
    const ack = ackOf(args);
    if (ack) ack(...args);
    else socket.emit("echo", ...args);
  });
  socket.on("bin", (buf, ack) => {
    const len = Buffer.isBuffer(buf) ? buf.length : -1;
    socket.emit("bin", buf, { len });
    if (typeof ack === "function") ack({ len });
  });
  socket.on("whoami", (ack) => {
    if (typeof ack === "function") ack({ id: socket.id, auth: socket.handshake.auth });
  });
});

const admin = io.of("/admin");
admin.use((socket, next) => {
  if (socket.handshake.auth && socket.handshake.auth.token === "secret") return next();
  const err = new Error("not authorized");
  err.data = { reason: "bad token" };
  next(err);
});
admin.on("connection", (socket) => {
  socket.on("stats", (ack) => {
    if (typeof ack === "function") ack({ sockets: io.of("/").sockets.size, admins: admin.sockets.size });
  });
});

httpServer.listen(port, "127.0.0.1", () => {
  process.stdout.write(`listening ${httpServer.address().port}\n`);
});

for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, () => {
    io.close();
    process.exit(0);
  });
}
