// The chat page of `wsbench serve`: the /chat protocol of docs/protocol.md
// over the browser's own WebSocket. Everything received is untrusted text
// and reaches the page through textContent only.
'use strict';

(() => {
  const MAX_LINES = 500;       // messages kept and shown per view
  const ROOMS_EVERY = 3000;    // ms between `rooms` requests
  const BACKOFF_BASE = 500;    // ms: first reconnect delay (before jitter)
  const BACKOFF_MAX = 30000;   // ms: longest reconnect delay
  const DM_VIEW = '@dm';

  const $ = id => document.getElementById(id);
  const el = {
    status: $('status'), me: $('me'), nickForm: $('nick-form'), nick: $('nick'),
    joinForm: $('join-form'), joinRoom: $('join-room'), rooms: $('rooms'), roomsTotal: $('rooms-total'),
    dmView: $('dm-view'), dmUnread: $('dm-unread'), title: $('view-title'), members: $('members'),
    rate: $('rate'), leave: $('leave'), messages: $('messages'), sayForm: $('say-form'),
    dmTo: $('dm-to'), text: $('text'), send: $('send'),
  };

  const state = {
    ws: null,
    attempt: 0,         // reconnects since the last welcome
    wantNick: '',       // the nickname asked for (kept across reconnects)
    me: '',             // the nickname the server confirmed
    rooms: new Map(),   // name → room
    listed: [],         // the server's last `rooms` list
    total: 0,
    dm: {lines: [], unread: 0},
    none: {name: '', lines: []}, // what is said while no room is open
    view: '',           // a room name, DM_VIEW, or '' (nothing yet)
    nextId: 1,
    pending: new Map(), // request id → what it was
    queue: [],          // lines waiting to be drawn in the current view
    drawScheduled: false,
  };

  function room(name) {
    let r = state.rooms.get(name);
    if (!r) {
      r = {name, joined: false, members: 0, lines: [], live: 0, lastLive: 0, rate: 0, lastTs: 0};
      state.rooms.set(name, r);
    }
    return r;
  }

  // --- connection -----------------------------------------------------------

  function connect() {
    const scheme = location.protocol === 'https:' ? 'wss://' : 'ws://';
    setStatus('connecting', state.attempt ? `reconnecting (attempt ${state.attempt})…` : 'connecting…');
    const ws = new WebSocket(scheme + location.host + '/chat');
    state.ws = ws;
    ws.onopen = () => {
      setStatus('open', 'connected');
      send({op: 'rooms'});
      if (state.wantNick) request({op: 'nick', name: state.wantNick}, {kind: 'nick', auto: 0});
    };
    ws.onmessage = ev => {
      let m;
      try { m = JSON.parse(ev.data); } catch (e) { return; }
      if (m && typeof m.op === 'string') receive(m);
    };
    ws.onclose = ev => {
      if (state.ws !== ws) return;
      state.ws = null;
      state.me = '';
      el.me.textContent = ''; // no nickname is held until the next welcome
      state.pending.clear();
      updateCompose();
      const delay = backoff(state.attempt++);
      const why = ev.code ? ` (${ev.code}${ev.reason ? ': ' + ev.reason : ''})` : '';
      setStatus('closed', `disconnected${why}; reconnecting in ${(delay / 1000).toFixed(1)} s`);
      system(`disconnected${why}`);
      setTimeout(connect, delay);
    };
  }

  // backoff is exponential with jitter: half the capped delay plus a random
  // part of the other half, so many pages cut at once do not return at once.
  function backoff(attempt) {
    const d = Math.min(BACKOFF_MAX, BACKOFF_BASE * 2 ** Math.min(attempt, 16));
    return d / 2 + Math.random() * d / 2;
  }

  function send(msg) {
    if (!state.ws || state.ws.readyState !== WebSocket.OPEN) return false;
    state.ws.send(JSON.stringify(msg));
    return true;
  }

  // request sends msg with an id and remembers what it was for its ack.
  function request(msg, what) {
    const id = state.nextId++;
    msg.id = id;
    if (!send(msg)) {
      errorLine('not connected');
      return;
    }
    state.pending.set(id, what);
  }

  function setStatus(s, text) {
    el.status.dataset.state = s;
    el.status.textContent = text;
  }

  // --- server messages --------------------------------------------------------

  function receive(m) {
    switch (m.op) {
    case 'welcome':
      state.me = String(m.name);
      state.attempt = 0;
      el.me.textContent = state.me;
      try { localStorage.setItem('wsbench.nick', state.me); } catch (e) { /* storage may be off */ }
      updateCompose();
      for (const r of state.rooms.values()) {
        if (r.joined) request({op: 'join', room: r.name}, {kind: 'join', room: r.name, quiet: true});
      }
      if (!state.view && params.get('room')) joinRoom(params.get('room'));
      break;
    case 'joined': {
      const r = room(String(m.room));
      const again = r.joined;
      r.joined = true;
      r.members = m.members | 0;
      if (!again) system(`joined ${r.name}`, r);
      if (!state.view || state.view === '') show(r.name);
      renderRooms();
      break;
    }
    case 'left': {
      const r = room(String(m.room));
      r.joined = false;
      r.members = m.members | 0;
      system(`left ${r.name}`, r);
      if (state.view === r.name) {
        const other = [...state.rooms.values()].find(o => o.joined);
        show(other ? other.name : '');
      }
      renderRooms();
      break;
    }
    case 'presence': {
      const r = room(String(m.room));
      r.members = m.members | 0;
      system(`${m.name} ${m.event === 'join' ? 'joined' : 'left'}`, r);
      renderRooms();
      break;
    }
    case 'said': {
      const r = room(String(m.room));
      const ts = Number(m.srv_ts) || 0;
      if (m.history === true) {
        if (ts && ts <= r.lastTs) break; // seen before a reconnect
      } else {
        r.live++;
      }
      r.lastTs = Math.max(r.lastTs, ts);
      add(r, {kind: m.history === true ? 'said history' : 'said', ts, from: String(m.from), text: String(m.text)});
      break;
    }
    case 'shouted':
      add(currentLines(), {kind: 'shout', ts: Number(m.srv_ts) || 0, from: String(m.from), text: String(m.text)});
      break;
    case 'dm':
      addDM({kind: 'dm', ts: Number(m.srv_ts) || 0, from: String(m.from), to: String(m.to), text: String(m.text)});
      break;
    case 'rooms':
      state.listed = Array.isArray(m.rooms) ? m.rooms : [];
      state.total = m.total | 0;
      for (const l of state.listed) {
        const r = state.rooms.get(String(l.room));
        if (r) r.members = l.members | 0;
      }
      renderRooms();
      break;
    case 'ack': {
      const what = state.pending.get(m.id);
      state.pending.delete(m.id);
      if (what && what.kind === 'dm') {
        addDM({kind: 'dm', ts: Date.now() * 1e6, from: state.me, to: what.to, text: what.text});
      }
      break;
    }
    case 'error': {
      const what = m.id !== undefined ? state.pending.get(m.id) : undefined;
      state.pending.delete(m.id);
      errorLine(`${m.code}: ${m.message}`);
      if (what && what.kind === 'nick' && what.auto !== undefined && m.code === 'nick_taken' && what.auto < 5) {
        // After a reconnect the server may not have seen the old
        // connection go yet: ask again a little later.
        const ws = state.ws;
        setTimeout(() => {
          if (state.ws === ws && !state.me) request({op: 'nick', name: state.wantNick}, {kind: 'nick', auto: what.auto + 1});
        }, backoff(what.auto));
      }
      if (what && what.kind === 'join') {
        const r = state.rooms.get(what.room);
        if (r && !r.joined && r.lines.length <= 1) state.rooms.delete(what.room);
        renderRooms();
      }
      break;
    }
    }
  }

  // --- views and drawing ------------------------------------------------------

  function currentLines() {
    if (state.view === DM_VIEW) return state.dm;
    return state.view ? room(state.view) : state.none;
  }

  function add(target, line) {
    target.lines.push(line);
    if (target.lines.length > 2 * MAX_LINES) target.lines.splice(0, target.lines.length - MAX_LINES);
    const shown = state.view === DM_VIEW ? target === state.dm : target.name === state.view;
    if (!shown) return;
    state.queue.push(line);
    if (state.queue.length > MAX_LINES) state.queue.splice(0, state.queue.length - MAX_LINES);
    if (!state.drawScheduled) {
      state.drawScheduled = true;
      requestAnimationFrame(draw);
    }
  }

  function addDM(line) {
    add(state.dm, line);
    if (state.view !== DM_VIEW) {
      state.dm.unread++;
      el.dmUnread.textContent = String(state.dm.unread);
    }
  }

  function system(text, target) {
    add(target || currentLines(), {kind: 'system', ts: Date.now() * 1e6, text});
  }

  function errorLine(text) {
    add(currentLines(), {kind: 'error', ts: Date.now() * 1e6, text});
  }

  // draw appends the queued lines at most once per frame, so a room under
  // load costs one layout per frame, not one per message.
  function draw() {
    state.drawScheduled = false;
    const box = el.messages;
    const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
    const frag = document.createDocumentFragment();
    for (const line of state.queue) frag.appendChild(lineElement(line));
    state.queue.length = 0;
    box.appendChild(frag);
    while (box.childElementCount > MAX_LINES) box.firstElementChild.remove();
    if (atBottom) box.scrollTop = box.scrollHeight;
  }

  function lineElement(line) {
    const li = document.createElement('li');
    li.className = line.kind;
    const time = document.createElement('span');
    time.className = 'time';
    time.textContent = line.ts ? new Date(line.ts / 1e6).toLocaleTimeString() : '';
    li.appendChild(time);
    if (line.from !== undefined) {
      const from = document.createElement('button');
      from.type = 'button';
      from.className = 'from';
      from.textContent = line.to !== undefined ? `${line.from} → ${line.to}` : line.from;
      from.title = 'private message';
      from.dataset.nick = line.from === state.me && line.to !== undefined ? line.to : line.from;
      li.appendChild(from);
    }
    const text = document.createElement('span');
    text.className = 'text';
    text.textContent = line.kind === 'shout' ? `(to everyone) ${line.text}` : line.text;
    li.appendChild(text);
    return li;
  }

  function show(view) {
    state.view = view;
    state.queue.length = 0;
    el.messages.replaceChildren();
    const target = view === DM_VIEW ? state.dm : view ? room(view) : state.none;
    const frag = document.createDocumentFragment();
    for (const line of target.lines.slice(-MAX_LINES)) frag.appendChild(lineElement(line));
    el.messages.appendChild(frag);
    el.messages.scrollTop = el.messages.scrollHeight;
    if (view === DM_VIEW) {
      state.dm.unread = 0;
      el.dmUnread.textContent = '';
    }
    el.title.textContent = view === DM_VIEW ? 'private messages' : view || 'no room';
    el.dmTo.hidden = view !== DM_VIEW;
    el.leave.hidden = !view || view === DM_VIEW;
    updateStats();
    updateCompose();
    renderRooms();
  }

  function updateCompose() {
    const can = state.me !== '' && state.view !== '';
    el.text.disabled = !can;
    el.send.disabled = !can;
    el.text.placeholder = !state.me ? 'Choose a nickname, then join a room'
      : !state.view ? 'Join a room' : state.view === DM_VIEW ? 'Private message' : `Message ${state.view}`;
  }

  function renderRooms() {
    const names = new Map();
    for (const l of state.listed) names.set(String(l.room), l.members | 0);
    for (const r of state.rooms.values()) if (r.joined) names.set(r.name, r.members);
    const items = [];
    for (const [name, members] of names) {
      const r = state.rooms.get(name);
      const li = document.createElement('li');
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'room' + (r && r.joined ? ' joined' : '') + (state.view === name ? ' current' : '');
      b.dataset.room = name;
      const n = document.createElement('span');
      n.className = 'name';
      n.textContent = name;
      const c = document.createElement('span');
      c.className = 'count';
      c.textContent = String(members);
      b.append(n, c);
      li.appendChild(b);
      items.push(li);
    }
    el.rooms.replaceChildren(...items);
    el.roomsTotal.textContent = state.total ? `(${state.total})` : '';
    el.dmView.classList.toggle('current', state.view === DM_VIEW);
    updateStats();
  }

  function updateStats() {
    const r = state.view && state.view !== DM_VIEW ? state.rooms.get(state.view) : null;
    el.members.textContent = r ? String(r.members) : '–';
    el.rate.textContent = r ? formatRate(r.rate) : '0';
  }

  function formatRate(x) {
    return x >= 100 ? String(Math.round(x)) : x.toFixed(1);
  }

  // The rate of live messages per room, over the last second.
  let lastTick = performance.now();
  setInterval(() => {
    const now = performance.now();
    const secs = (now - lastTick) / 1000;
    lastTick = now;
    for (const r of state.rooms.values()) {
      r.rate = (r.live - r.lastLive) / secs;
      r.lastLive = r.live;
    }
    updateStats();
  }, 1000);

  setInterval(() => send({op: 'rooms'}), ROOMS_EVERY);

  // --- user actions -----------------------------------------------------------

  function joinRoom(name) {
    name = name.trim();
    if (!name) return;
    const r = state.rooms.get(name);
    if (r && r.joined) {
      show(name);
      return;
    }
    room(name);
    request({op: 'join', room: name}, {kind: 'join', room: name});
    show(name);
  }

  el.nickForm.addEventListener('submit', ev => {
    ev.preventDefault();
    const name = el.nick.value.trim();
    if (!name) return;
    state.wantNick = name;
    request({op: 'nick', name}, {kind: 'nick'});
  });

  el.joinForm.addEventListener('submit', ev => {
    ev.preventDefault();
    if (!state.me) {
      errorLine('choose a nickname first');
      return;
    }
    joinRoom(el.joinRoom.value);
    el.joinRoom.value = '';
  });

  el.rooms.addEventListener('click', ev => {
    const b = ev.target.closest('button.room');
    if (!b) return;
    if (!state.me) {
      errorLine('choose a nickname first');
      return;
    }
    joinRoom(b.dataset.room);
  });

  el.dmView.addEventListener('click', () => show(DM_VIEW));

  el.leave.addEventListener('click', () => {
    if (state.view && state.view !== DM_VIEW) request({op: 'leave', room: state.view}, {kind: 'leave'});
  });

  el.messages.addEventListener('click', ev => {
    const b = ev.target.closest('button.from');
    if (!b || b.dataset.nick === state.me) return;
    show(DM_VIEW);
    el.dmTo.value = b.dataset.nick;
    el.text.focus();
  });

  el.sayForm.addEventListener('submit', ev => {
    ev.preventDefault();
    const text = el.text.value;
    if (!text) return;
    if (state.view === DM_VIEW) {
      const to = el.dmTo.value.trim();
      if (!to) {
        errorLine('whom to? type a nickname in the "to" box');
        return;
      }
      request({op: 'dm', to, text}, {kind: 'dm', to, text});
    } else if (state.view) {
      request({op: 'say', room: state.view, text}, {kind: 'say'});
    }
    el.text.value = '';
  });

  // ?nick=NAME&room=NAME (a room's # written %23) joins a room at once.
  const params = new URLSearchParams(location.search);
  try { el.nick.value = localStorage.getItem('wsbench.nick') || ''; } catch (e) { /* storage may be off */ }
  if (params.get('nick')) {
    state.wantNick = params.get('nick');
    el.nick.value = state.wantNick;
  }
  updateCompose();
  connect();
})();
