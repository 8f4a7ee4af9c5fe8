// A Node `ws` client with permessage-deflate, driven by
// target/deflate_node_test.go: it connects with the options given as JSON
// in argv[3], prints the negotiated extensions, sends each message of
// `sizes` to /echo (or as a chat `say` to /chat) and checks what comes back.
// Exit status 0 when every message came back intact.
'use strict';
const WebSocket = require(process.env.WS_MODULE || 'ws');

const url = process.argv[2];
const opts = JSON.parse(process.argv[3] || '{}');

// text of n bytes with matches close by and 600 bytes back, so a server
// compressing with a window smaller than asked makes zlib fail with
// "invalid distance too far back".
function compressible(n) {
  const words = ['room ', 'said ', 'hello ', 'wsbench ', 'deflate ', 'window ', 'json ', 'frame '];
  let seed = 7;
  const rnd = (k) => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % k; };
  let block = '';
  while (block.length < 600) block += words[rnd(words.length)] + String.fromCharCode(97 + rnd(26));
  block = block.slice(0, 600);
  let out = '';
  while (out.length < n) out += block.slice(0, Math.min(600, n - out.length));
  return out;
}

function fail(msg) {
  console.error('nodews: ' + msg);
  process.exit(1);
}

const ws = new WebSocket(url, { perMessageDeflate: opts.perMessageDeflate === undefined ? true : opts.perMessageDeflate });
const timer = setTimeout(() => fail('timed out'), 15000);
const expected = [];
let chat = url.endsWith('/chat');

ws.on('upgrade', (res) => {
  console.log(JSON.stringify({ extensions: res.headers['sec-websocket-extensions'] || '' }));
});

ws.on('open', () => {
  if (chat) {
    ws.send(JSON.stringify({ op: 'nick', name: 'node' + process.pid }));
    ws.send(JSON.stringify({ op: 'join', room: 'nodews' }));
  }
  for (const n of opts.sizes || []) {
    const text = compressible(n);
    expected.push(text);
    ws.send(chat ? JSON.stringify({ op: 'say', room: 'nodews', text }) : text);
  }
  if (expected.length === 0) ws.close(1000);
});

ws.on('message', (data, isBinary) => {
  let text = data.toString();
  if (chat) {
    const m = JSON.parse(text);
    if (m.op !== 'said') return;
    text = m.text;
  }
  const want = expected.shift();
  if (text !== want) fail(`message of ${want === undefined ? '?' : want.length} bytes came back as ${text.length} bytes`);
  if (expected.length === 0) ws.close(1000);
});

ws.on('close', (code) => {
  clearTimeout(timer);
  if (code !== 1000 || expected.length > 0) fail(`closed with ${code}, ${expected.length} message(s) missing`);
  console.log(JSON.stringify({ done: true }));
  process.exit(0);
});

ws.on('error', (err) => fail(err.message));
