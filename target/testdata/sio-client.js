// sio-client.js — the official socket.io-client against `wsbench serve`,
// driven by target/socketio_node_test.go:
//
//   node sio-client.js URL TRANSPORTS NAME ROOM
//
// TRANSPORTS is "polling", "websocket" or "polling,websocket" (start on
// polling, upgrade). It prints one line per step; the Go test (a raw
// /chat user in the same room) checks them.
"use strict";
const { io } = require("socket.io-client");

const [url, transports, name, room] = process.argv.slice(2);
const out = (...a) => console.log(a.join(" "));
const s = io(url, { transports: transports.split(","), auth: { name }, reconnection: false, timeout: 10000 });
const ack = (ev, ...args) => new Promise((res) => s.emit(ev, ...args, (...r) => res(r)));
const fromRaw = new Promise((res) => s.on("said", (m) => { if (m.from === "raw") res(m); }));
const upgraded = new Promise((res) => s.io.on("open", () => s.io.engine.on("upgrade", res)));

s.on("connect_error", (e) => { out("connect_error", e.message); process.exit(2); });
s.on("disconnect", (r) => out("disconnect", r));
s.once("connect", async () => {
  out("connected", s.io.engine.transport.name);
  out("join-ack", JSON.stringify(await ack("join", room)));
  if (transports === "polling,websocket" && s.io.engine.transport.name !== "websocket") {
    await upgraded;
  }
  out("ready", s.io.engine.transport.name);
  out("said-from-raw", (await fromRaw).text);
  out("say-ack", JSON.stringify(await ack("say", { room, text: "hi from sio", seq: 7 })));
  out("dm-ack", JSON.stringify(await ack("dm", "raw", "psst")));
  out("echo-ack", JSON.stringify(await ack("echo", 1, "two")));
  out("leave-ack", JSON.stringify(await ack("leave", "#nowhere")));
  // Stay through several of the server's pings (the test pings every 200 ms).
  await new Promise((r) => setTimeout(r, 800));
  out("done", s.io.engine.transport.name);
  s.disconnect();
  process.exit(0);
});
setTimeout(() => { out("timeout"); process.exit(3); }, 20000);
