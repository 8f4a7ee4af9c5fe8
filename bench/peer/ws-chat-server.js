// ws-chat-server.js — a peer server for BENCHMARKS.md: the part of the chat
// protocol (docs/protocol.md) that bench/fanout-1000.yaml, bench/echo-loop.yaml
// and bench/idle-vus.yaml use, written the ordinary way with npm's `ws`
// (one process, one event loop), so `wsbench serve` can be measured beside it.
// /chat: nick → welcome, join → joined {room, members} (+ presence, history),
// leave → left, say → said {room, from, text, srv_ts, ...pass-through} to every
// member (sender too unless exclude_self), echo, ack {id}, error {code}.
// /echo: every message back unchanged. /healthz: 200 ok.
// Usage: node ws-chat-server.js [--addr 127.0.0.1:9400]
'use strict';
const http = require('http');
const { WebSocketServer } = require('ws');

const arg = process.argv.indexOf('--addr');
const [host, port] = (arg > 0 ? process.argv[arg + 1] : '127.0.0.1:9400').split(':');
const HISTORY = 50;
const nicks = new Map(); // name → ws
const rooms = new Map(); // room → {members: Set<ws>, history: Buffer[]}
const NAME = /^[A-Za-z0-9_.-]{1,32}$/, ROOM = /^[A-Za-z0-9_.#-]{1,64}$/;
const OWN = new Set(['op', 'id', 'text', 'from', 'srv_ts', 'history', 'room', 'exclude_self']);

// Unix time in ns (µs resolution) as a decimal string.
const nowNs = () => String(BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000)) * 1000n);

// rawFields returns the raw JSON text of each top-level member of the object
// in s, so pass-through fields (19-digit ts) are copied byte for byte as the
// protocol requires, not rounded through a double.
function rawFields(s) {
  const out = [];
  let i = s.indexOf('{') + 1;
  const skip = () => { while (' \t\r\n'.includes(s[i])) i++; };
  const str = () => { const a = i++; while (s[i] !== '"') i += s[i] === '\\' ? 2 : 1; return s.slice(a, ++i); };
  for (;;) {
    skip(); if (s[i] !== '"') return out;
    const key = JSON.parse(str()); skip(); i++; skip();
    const a = i;
    if (s[i] === '"') str();
    else for (let depth = 0; i < s.length; i++) {
      const c = s[i];
      if (c === '"') { str(); i--; } else if (c === '{' || c === '[') depth++;
      else if (c === '}' || c === ']') { if (depth-- === 0) break; } else if (c === ',' && depth === 0) break;
    }
    out.push([key, s.slice(a, i).trim()]); skip(); if (s[i] === ',') i++;
  }
}

function send(ws, obj) { ws.send(JSON.stringify(obj)); }
function fail(ws, id, code, message) {
  send(ws, id === undefined ? { op: 'error', code, message } : { op: 'error', id, code, message });
}
function broadcast(room, buf, except) {
  for (const m of room.members) if (m !== except && m.readyState === 1) m.send(buf, { binary: false });
}
function leave(ws, name) {
  const room = rooms.get(name);
  ws.rooms.delete(name); room.members.delete(ws);
  broadcast(room, Buffer.from(JSON.stringify({ op: 'presence', room: name, name: ws.nick, event: 'leave', members: room.members.size })));
  return room.members.size;
}

function onChat(ws, data, isBinary) {
  const raw = data.toString();
  let msg;
  try { msg = JSON.parse(raw); } catch { return fail(ws, undefined, 'bad_json', 'invalid JSON'); }
  if (isBinary || msg === null || typeof msg !== 'object' || typeof msg.op !== 'string') return fail(ws, undefined, 'bad_json', 'not a JSON object with a string op');
  const { op, id } = msg;
  if (op === 'echo') { ws.send(raw); } else if (op === 'nick') {
    if (typeof msg.name !== 'string' || !NAME.test(msg.name)) return fail(ws, id, 'bad_name', 'bad nickname');
    const holder = nicks.get(msg.name);
    if (holder && holder !== ws) return fail(ws, id, 'nick_taken', `nickname ${msg.name} is taken`);
    if (ws.nick) nicks.delete(ws.nick);
    ws.nick = msg.name; nicks.set(ws.nick, ws);
    send(ws, { op: 'welcome', name: ws.nick });
  } else if (!ws.nick) { return fail(ws, id, 'no_nick', 'nick first');
  } else if (op === 'join' || op === 'leave' || op === 'say') {
    const name = msg.room;
    if (typeof name !== 'string' || !ROOM.test(name)) return fail(ws, id, name === undefined ? 'missing_field' : 'bad_name', 'bad room');
    let room = rooms.get(name);
    if (op === 'join') {
      if (!room) rooms.set(name, (room = { members: new Set(), history: [] }));
      if (!ws.rooms.has(name)) {
        room.members.add(ws); ws.rooms.add(name);
        send(ws, { op: 'joined', room: name, members: room.members.size });
        for (const h of room.history) ws.send(h, { binary: false });
        broadcast(room, Buffer.from(JSON.stringify({ op: 'presence', room: name, name: ws.nick, event: 'join', members: room.members.size })), ws);
      } else send(ws, { op: 'joined', room: name, members: room.members.size });
    } else if (!ws.rooms.has(name)) { return fail(ws, id, 'not_in_room', `not in room ${name}`);
    } else if (op === 'leave') { send(ws, { op: 'left', room: name, members: leave(ws, name) });
    } else {
      if (typeof msg.text !== 'string') return fail(ws, id, 'missing_field', 'say needs text');
      let head = `{"op":"said","room":${JSON.stringify(name)},"from":${JSON.stringify(ws.nick)},"text":${JSON.stringify(msg.text)},"srv_ts":${nowNs()}`;
      for (const [k, v] of rawFields(raw)) if (!OWN.has(k)) head += `,${JSON.stringify(k)}:${v}`;
      const live = Buffer.from(head + '}');
      room.history.push(Buffer.from(head + ',"history":true}'));
      if (room.history.length > HISTORY) room.history.shift();
      broadcast(room, live, msg.exclude_self === true ? ws : null);
    }
  } else return fail(ws, id, 'unknown_op', `unknown op ${op}`);
  if (id !== undefined) send(ws, { op: 'ack', id });
}

const server = http.createServer((req, res) => {
  res.writeHead(req.url === '/healthz' ? 200 : 404).end(req.url === '/healthz' ? 'ok\n' : 'not found\n');
});
const wss = new WebSocketServer({ noServer: true, maxPayload: 1 << 20, perMessageDeflate: false, clientTracking: false });
server.on('upgrade', (req, socket, head) => {
  const path = req.url.split('?')[0];
  if (path !== '/chat' && path !== '/echo') return socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
  wss.handleUpgrade(req, socket, head, (ws) => {
    ws.on('error', () => {});
    if (path === '/echo') return ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    ws.rooms = new Set(); ws.nick = '';
    ws.on('message', (data, isBinary) => onChat(ws, data, isBinary));
    ws.on('close', () => {
      for (const name of [...ws.rooms]) if (leave(ws, name) === 0) rooms.delete(name);
      if (ws.nick && nicks.get(ws.nick) === ws) nicks.delete(ws.nick);
    });
  });
});
// backlog 4096 = net.core.somaxconn, the backlog Go's listener (wsbench serve) gets too.
server.listen({ port: Number(port), host, backlog: 4096 }, () => console.error(`ws-chat-server listening on ${host}:${port}`));
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
