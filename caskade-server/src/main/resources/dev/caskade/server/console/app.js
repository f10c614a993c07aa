// Caskade web console: vanilla JS, no build step, talks only to the server that served it (HTTP API v1).
'use strict';

(() => {
  const PAGE = 500;          // keys per GET /v1/kv page
  const LOG_ROWS = 300;      // rows kept in the event log
  const SPARK = 60;          // samples in the commits/s sparkline (one per poll)
  const POLL_MS = 1000;
  const SHOW_BYTES = 64 * 1024; // a binary value is shown (and editable as hex) up to this size

  const $ = (id) => document.getElementById(id);
  const enc = new TextEncoder();
  const strict = new TextDecoder('utf-8', { fatal: true });

  const state = {
    auth: sessionStorage.getItem('caskade.auth'),
    who: sessionStorage.getItem('caskade.who'),
    users: false,              // the server answered 401 once: it has users
    prefix: '',
    keys: new Map(),           // hex(key bytes) -> { bytes, label, revision }
    pages: [],                 // loaded pages: { last: bytes|null (null: the end), revision }
    next: null,                // bytes of the last key of the last page when more follow
    listGen: 0,                // bumped whenever the list restarts (a new filter): stale loads are dropped
    lastRev: 0,                // the newest revision the page has seen (list or watch)
    watch: null,               // { ctrl, gen }
    collapsed: new Set(),      // folders the user closed
    open: null,                // the key in the value pane: { bytes, label, revision (0: new), value, kind, editing }
    openSeq: 0,                // bumped whenever the pane shows something else: a late read for the old key is dropped
    pendingDelete: false,
    conflict: null,            // { op: 'put'|'delete', body, current: { revision, value } | null }
    paused: false,
    logCount: 0,
    samples: [],               // { t, rev }
    pollTimer: 0,
  };

  // ---------- bytes, keys, encoding ----------

  const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  const fromBase64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
  const toBase64 = (bytes) => btoa(Array.from(bytes, (b) => String.fromCharCode(b)).join(''));
  function compareBytes(a, b) {
    const n = Math.min(a.length, b.length);
    for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
    return a.length - b.length;
  }
  function utf8OrNull(bytes) {
    try { return strict.decode(bytes); } catch (e) { return null; }
  }
  /** A readable name for any key: the text, or \xNN escapes for bytes that are not UTF-8. */
  function labelOf(bytes) {
    const text = utf8OrNull(bytes);
    if (text !== null) return text;
    return Array.from(bytes, (b) => (b >= 0x20 && b < 0x7f && b !== 0x5c ? String.fromCharCode(b)
      : '\\x' + b.toString(16).padStart(2, '0'))).join('');
  }
  /** Key bytes from a JSON item or change: key (UTF-8) or key_base64. */
  const keyBytes = (o) => (o.key_base64 != null ? fromBase64(o.key_base64) : enc.encode(o.key));
  const valueBytes = (o) => (o.value_base64 != null ? fromBase64(o.value_base64) : enc.encode(o.value || ''));
  /** Percent-encodes every byte but the unreserved ones: the path of /v1/kv/{key}. */
  function pathOf(bytes) {
    let s = '';
    for (const b of bytes) {
      const c = String.fromCharCode(b);
      s += /[A-Za-z0-9._~-]/.test(c) ? c : '%' + b.toString(16).toUpperCase().padStart(2, '0');
    }
    return '/v1/kv/' + s;
  }
  const query = (s) => encodeURIComponent(s);
  const etagRevision = (tag) => (tag ? Number(tag.replace(/^W\//, '').replace(/"/g, '')) : 0);
  function humanBytes(n) {
    if (n < 1024) return n + ' B';
    const units = ['KiB', 'MiB', 'GiB', 'TiB'];
    let v = n; let i = -1;
    do { v /= 1024; i++; } while (v >= 1024 && i < units.length - 1);
    return v.toFixed(v < 10 ? 1 : 0) + ' ' + units[i];
  }
  const el = (tag, cls, text) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  };

  // ---------- the API ----------

  class Unauthorized extends Error {}

  /** fetch with the login; never lets the browser prompt or send cookies (credentials: 'omit'). */
  async function api(path, opts = {}) {
    const headers = new Headers(opts.headers || {});
    if (state.auth) headers.set('Authorization', state.auth);
    const res = await fetch(path, { ...opts, headers, credentials: 'omit', cache: 'no-store' });
    if (res.status === 401) {
      state.users = true;
      showLogin(state.auth ? 'Your login is no longer accepted; log in again.' : '');
      throw new Unauthorized();
    }
    return res;
  }

  async function errorText(res) {
    try {
      const j = await res.json();
      return j.error || res.status + ' ' + res.statusText;
    } catch (e) {
      return res.status + ' ' + res.statusText;
    }
  }

  // ---------- login ----------

  function showLogin(message) {
    stopAll();
    $('app').hidden = true;
    $('logout').hidden = true;
    $('who').textContent = '';
    $('login').hidden = false;
    $('login-error').textContent = message || '';
    setConn('logged out', '');
    $('login-user').focus();
  }

  async function tryLogin(auth) {
    const headers = auth ? { Authorization: auth } : {};
    return fetch('/v1/status', { headers, credentials: 'omit', cache: 'no-store' });
  }

  $('login-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const user = $('login-user').value.trim();
    const password = $('login-password').value;
    const token = $('login-token').value.trim();
    let auth; let who;
    if (token) {
      auth = 'Bearer ' + token; who = 'token';
    } else if (user) {
      auth = 'Basic ' + toBase64(enc.encode(user + ':' + password)); who = user;
    } else {
      $('login-error').textContent = 'Give a user and password, or a token.';
      return;
    }
    $('login-submit').disabled = true;
    $('login-error').textContent = '';
    try {
      const res = await tryLogin(auth);
      if (res.status === 401) {
        $('login-error').textContent = 'Wrong user, password or token.';
        return;
      }
      if (!res.ok) {
        $('login-error').textContent = await errorText(res);
        return;
      }
      state.auth = auth; state.who = who;
      sessionStorage.setItem('caskade.auth', auth);
      sessionStorage.setItem('caskade.who', who);
      $('login-password').value = ''; $('login-token').value = '';
      start();
    } catch (e) {
      $('login-error').textContent = 'Cannot reach the server: ' + e.message;
    } finally {
      $('login-submit').disabled = false;
    }
  });

  $('logout').addEventListener('click', () => {
    sessionStorage.removeItem('caskade.auth');
    sessionStorage.removeItem('caskade.who');
    state.auth = null; state.who = null;
    closeKey();
    showLogin('Logged out.');
  });

  // ---------- the key list and tree ----------

  function resetList() {
    state.listGen++;
    state.keys.clear();
    state.pages = [];
    state.next = null;
    rebuildTree();
  }

  /** Loads the next page of keys under the filter; the first page also (re)starts the watch from its revision. */
  async function loadPage() {
    const gen = state.listGen;
    const first = state.pages.length === 0;
    let url = '/v1/kv?prefix=' + query(state.prefix) + '&limit=' + PAGE;
    if (state.next) url += '&after=' + Array.from(state.next, (b) => '%' + b.toString(16).padStart(2, '0')).join('');
    $('more').disabled = true;
    try {
      const res = await api(url);
      if (gen !== state.listGen) return;
      if (!res.ok) {
        const why = await errorText(res);
        $('keys-info').textContent = res.status === 403
          ? why + ' — type a prefix you may read in the filter.' : 'Cannot list keys: ' + why;
        $('keys-info').classList.add('error');
        if (first) stopWatch();
        return;
      }
      $('keys-info').classList.remove('error');
      const page = await res.json();
      if (gen !== state.listGen) return;
      for (const item of page.items) {
        const bytes = keyBytes(item);
        const id = hex(bytes);
        const known = state.keys.get(id);
        if (!known || known.revision <= item.revision) setKey(id, bytes, item.revision);
      }
      const more = page.next != null || page.next_base64 != null;
      state.next = more ? keyBytes({ key: page.next, key_base64: page.next_base64 }) : null;
      state.pages.push({ last: state.next, revision: page.revision });
      if (page.revision > state.lastRev) state.lastRev = page.revision;
      updateInfo();
      if (first) startWatch(page.revision);
    } catch (e) {
      if (!(e instanceof Unauthorized)) $('keys-info').textContent = 'Cannot list keys: ' + e.message;
    } finally {
      $('more').disabled = false;
    }
  }

  /** The revision the loaded page holding {@code bytes} was read at, or -1 when the key is past the loaded pages. */
  function coveredAt(bytes) {
    for (const p of state.pages) if (p.last === null || compareBytes(bytes, p.last) <= 0) return p.revision;
    return -1;
  }

  // The tree is updated in place, node by node: a row under the pointer is never replaced by a live change, so a
  // click on a busy tree is not lost. Folders come first, then keys, each in byte order.
  let dom = null; // { keys: Map(hex -> { li, rev, folder }), folders: Map(path -> folder) }

  /** The folders the filter itself names are not repeated: the tree starts below the prefix's last '/'. */
  const basePath = () => state.prefix.slice(0, state.prefix.lastIndexOf('/') + 1);

  function rebuildTree() {
    const root = { ul: $('tree'), count: 0, parent: null };
    root.ul.replaceChildren();
    dom = { keys: new Map(), folders: new Map([[basePath(), root]]) };
    const entries = Array.from(state.keys.entries()).sort((a, b) => compareBytes(a[1].bytes, b[1].bytes));
    for (const [id, e] of entries) addKeyNode(id, e);
    updateInfo();
  }

  /** Puts {@code li} among {@code ul}'s children: folders first, then keys, each by {@code sortKey}. */
  function insertSorted(ul, li) {
    const before = (other) => other.kind === li.kind ? compareBytes(li.sortKey, other.sortKey) < 0 : li.kind === 'folder';
    const last = ul.lastElementChild;
    if (!last || !before(last)) { ul.append(li); return; } // pages arrive in order: the usual case
    for (const other of ul.children) if (before(other)) { ul.insertBefore(li, other); return; }
    ul.append(li);
  }

  function folderFor(label) {
    const base = basePath();
    const parts = (label.startsWith(base) ? label.slice(base.length) : label).split('/');
    let folder = dom.folders.get(base);
    let path = base;
    for (let i = 0; i < parts.length - 1; i++) {
      path += parts[i] + '/';
      let child = dom.folders.get(path);
      if (!child) child = makeFolder(path, parts[i], folder);
      folder = child;
    }
    return { folder, name: parts[parts.length - 1] };
  }

  function makeFolder(path, name, parent) {
    const closed = state.collapsed.has(path);
    const li = el('li', 'folder' + (closed ? ' collapsed' : ''));
    li.dataset.folder = path;
    li.kind = 'folder';
    li.sortKey = enc.encode(name);
    const twisty = el('span', 'twisty', closed ? '▸' : '▾');
    const countEl = el('span', 'count', '0');
    const row = el('div', 'row');
    row.append(twisty, el('span', 'name', name + '/'), countEl);
    row.addEventListener('click', () => {
      const nowClosed = !state.collapsed.has(path);
      if (nowClosed) state.collapsed.add(path); else state.collapsed.delete(path);
      li.classList.toggle('collapsed', nowClosed);
      twisty.textContent = nowClosed ? '▸' : '▾';
    });
    keyboard(row);
    const ul = el('ul');
    li.append(row, ul);
    const folder = { li, ul, countEl, count: 0, parent, path };
    insertSorted(parent.ul, li);
    dom.folders.set(path, folder);
    return folder;
  }

  /** A tree row is reached with Tab and acted on with Enter or Space, like a button. */
  function keyboard(row) {
    row.tabIndex = 0;
    row.setAttribute('role', 'button');
    row.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); row.click(); }
    });
  }

  function addKeyNode(id, e) {
    const { folder, name } = folderFor(e.label);
    const li = el('li', 'key');
    li.dataset.key = e.label;
    li.kind = 'key';
    li.sortKey = e.bytes;
    const rev = el('span', 'rev', '@' + e.revision);
    const row = el('div', 'row');
    row.title = e.label + ' (revision ' + e.revision + ')';
    row.append(el('span', 'twisty', ''), el('span', 'name', name === '' ? '(empty)' : name), rev);
    row.addEventListener('click', () => openKey(e.bytes));
    keyboard(row);
    li.append(row);
    if (state.open && hex(state.open.bytes) === id) li.classList.add('selected');
    insertSorted(folder.ul, li);
    dom.keys.set(id, { li, rev, row, folder });
    for (let f = folder; f; f = f.parent) { f.count++; if (f.countEl) f.countEl.textContent = String(f.count); }
  }

  function removeKeyNode(id) {
    const n = dom.keys.get(id);
    if (!n) return;
    n.li.remove();
    dom.keys.delete(id);
    for (let f = n.folder; f; f = f.parent) {
      f.count--;
      if (!f.countEl) continue; // the root
      f.countEl.textContent = String(f.count);
      if (f.count === 0) { f.li.remove(); dom.folders.delete(f.path); }
    }
  }

  /** A key as the list or a commit reports it: added, or its revision updated. */
  function setKey(id, bytes, revision) {
    const known = state.keys.get(id);
    if (known) {
      known.revision = revision;
      const n = dom.keys.get(id);
      if (n) { n.rev.textContent = '@' + revision; n.row.title = known.label + ' (revision ' + revision + ')'; }
      return;
    }
    const e = { bytes, label: labelOf(bytes), revision };
    state.keys.set(id, e);
    addKeyNode(id, e);
  }

  function dropKey(id) {
    state.keys.delete(id);
    removeKeyNode(id);
  }

  // Lighting rows and adding log rows wait for the next frame, so a burst of thousands of commits costs one
  // reflow and at most LOG_ROWS new rows per frame, not one each.
  const frame = { lit: new Set(), log: [], queued: false };
  function nextFrame() {
    if (frame.queued) return;
    frame.queued = true;
    requestAnimationFrame(flushFrame);
  }
  function flushFrame() {
    frame.queued = false;
    const lit = [];
    for (const id of frame.lit) { const n = dom && dom.keys.get(id); if (n) lit.push(n.li); }
    frame.lit.clear();
    for (const li of lit) li.classList.remove('lit');
    if (lit.length) void $('tree').offsetWidth; // one reflow, so that adding the class again restarts the animation
    for (const li of lit) li.classList.add('lit');
    const rows = frame.log.splice(0).slice(-LOG_ROWS);
    if (rows.length) {
      const body = $('log').tBodies[0];
      const fresh = document.createDocumentFragment();
      for (let i = rows.length - 1; i >= 0; i--) fresh.append(rows[i]);
      body.insertBefore(fresh, body.firstChild);
      while (body.rows.length > LOG_ROWS) body.deleteRow(body.rows.length - 1);
      $('log-count').textContent = state.logCount + ' changes seen';
    }
  }

  /** Lights the row up; the animation restarts on a row that is still fading. */
  function flashKey(id) {
    frame.lit.add(id);
    nextFrame();
  }

  function markSelected() {
    for (const li of $('tree').querySelectorAll('li.key.selected')) li.classList.remove('selected');
    const n = state.open && state.open.revision !== 0 && dom ? dom.keys.get(hex(state.open.bytes)) : null;
    if (n) n.li.classList.add('selected');
  }

  function updateInfo() {
    const n = state.keys.size;
    if (!$('keys-info').classList.contains('error')) {
      $('keys-info').textContent = n === 0
        ? (state.pages.length ? 'No keys' + (state.prefix ? ' under this prefix.' : '.') : 'Loading…')
        : n + (state.next ? '+ keys (more to load)' : n === 1 ? ' key' : ' keys') + (state.prefix ? ' under ' + state.prefix : '');
    }
    $('more').hidden = !state.next;
  }

  let filterTimer = 0;
  $('filter').addEventListener('input', () => {
    clearTimeout(filterTimer);
    filterTimer = setTimeout(() => {
      const p = $('filter').value;
      if (p === state.prefix) return;
      state.prefix = p;
      stopWatch();
      resetList();
      loadPage();
    }, 250);
  });
  $('more').addEventListener('click', () => loadPage());

  // ---------- the live watch (SSE over fetch, so that it carries the Authorization header) ----------

  function setConn(text, cls) {
    const c = $('conn');
    c.textContent = text;
    c.className = 'pill' + (cls ? ' ' + cls : '');
  }

  function stopWatch() {
    if (state.watch) state.watch.ctrl.abort();
    state.watch = null;
  }

  function startWatch(from) {
    stopWatch();
    const w = { ctrl: new AbortController(), from };
    state.watch = w;
    runWatch(w, state.prefix);
  }

  async function runWatch(w, prefix) {
    let backoff = 500;
    while (state.watch === w) {
      let resync = false;
      try {
        const res = await api('/v1/watch?prefix=' + query(prefix) + '&from=' + w.from,
          { signal: w.ctrl.signal, headers: { Accept: 'text/event-stream' } });
        if (!res.ok) {
          const why = await errorText(res);
          setConn('no live events: ' + why, 'down');
          if (res.status === 403 || res.status === 400) return;
          throw new Error(why);
        }
        setConn('live', 'live');
        backoff = 500;
        const reader = res.body.getReader();
        const dec = new TextDecoder();
        let buf = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += dec.decode(value, { stream: true }).replace(/\r\n/g, '\n');
          let cut;
          while ((cut = buf.indexOf('\n\n')) >= 0) {
            const block = buf.slice(0, cut);
            buf = buf.slice(cut + 2);
            const ev = parseEvent(block);
            if (!ev || state.watch !== w) continue;
            if (ev.event === 'commit') {
              const commit = JSON.parse(ev.data);
              w.from = commit.revision;
              onCommit(commit);
            } else if (ev.event === 'overflow' || ev.event === 'error') {
              w.from = JSON.parse(ev.data).resume;   // continue from there, with no gap
            } else if (ev.event === 'compacted') {
              resync = true;                         // history is gone: start over from a fresh list
            }
          }
        }
      } catch (e) {
        if (e instanceof Unauthorized || state.watch !== w) return;
      }
      if (state.watch !== w) return;
      if (resync) {
        stopWatch(); resetList(); loadPage();
        return;
      }
      setConn('reconnecting…', 'down');
      await new Promise((r) => setTimeout(r, backoff));
      backoff = Math.min(backoff * 2, 5000);
    }
  }

  function parseEvent(block) {
    let event = 'message'; const data = [];
    for (const line of block.split('\n')) {
      if (line === '' || line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
    }
    return data.length ? { event, data: data.join('\n') } : null;
  }

  function onCommit(commit) {
    if (commit.revision > state.lastRev) state.lastRev = commit.revision;
    for (const c of commit.changes) {
      const bytes = keyBytes(c);
      const id = hex(bytes);
      const covered = coveredAt(bytes);
      // a key past the loaded pages comes with a later page; one already read at a newer revision stays
      if (covered >= 0 && commit.revision > covered) {
        const known = state.keys.get(id);
        if (!known || known.revision < commit.revision) {
          if (c.type === 'put') setKey(id, bytes, commit.revision);
          else dropKey(id);
        }
      }
      flashKey(id);
      logChange(commit, c, bytes);
      if (state.open && state.open.revision !== 0 && hex(state.open.bytes) === id) openKeyChanged(commit.revision, c.type);
      else if (state.open && state.open.revision === 0 && state.open.editing && compareBytes(keyNameBytes(), bytes) === 0 && c.type === 'put') {
        showNotice('A key with this name was just created (revision ' + commit.revision + '); saving will show a conflict.');
      }
    }
    updateInfo();
  }

  // ---------- the event log ----------

  function logChange(commit, c, bytes) {
    if (state.paused) return;
    const tr = el('tr', 'flash');
    const time = new Date(commit.timestamp).toLocaleTimeString(undefined, { hour12: false });
    const value = c.type === 'put' ? preview(valueBytes(c)) : '';
    const keyCell = el('td', 'k', labelOf(bytes));
    keyCell.addEventListener('click', () => openKey(bytes));
    tr.append(el('td', '', time), el('td', '', String(commit.revision)), el('td', 't-' + c.type, c.type), keyCell, el('td', '', value));
    tr.dataset.key = labelOf(bytes);
    tr.dataset.revision = String(commit.revision);
    state.logCount++;
    frame.log.push(tr);
    if (frame.log.length > 4 * LOG_ROWS) frame.log.splice(0, frame.log.length - LOG_ROWS); // a hidden tab: no frames
    nextFrame();
  }

  function preview(bytes) {
    const text = utf8OrNull(bytes);
    if (text === null) return '(' + bytes.length + ' bytes) ' + hex(bytes.slice(0, 24)) + (bytes.length > 24 ? '…' : '');
    return text.length > 120 ? text.slice(0, 120) + '…' : text;
  }

  $('pause').addEventListener('click', () => {
    state.paused = !state.paused;
    $('pause').textContent = state.paused ? 'Resume' : 'Pause';
  });
  $('clear-log').addEventListener('click', () => {
    frame.log.length = 0;
    $('log').tBodies[0].replaceChildren();
    state.logCount = 0;
    $('log-count').textContent = '';
  });

  // ---------- the value pane: view ----------

  function kindOf(bytes) {
    const text = utf8OrNull(bytes);
    if (text === null) return { kind: 'binary', text: null };
    const t = text.trim();
    if ((t.startsWith('{') || t.startsWith('[')) && isJson(t)) return { kind: 'json', text };
    return { kind: 'text', text };
  }
  function isJson(t) {
    try { JSON.parse(t); return true; } catch (e) { return false; }
  }

  /**
   * Re-indents JSON text token by token, never through numbers: JSON.parse would round 2^53+1, and the page must show
   * the bytes that are stored. Returns [text, cls] pieces for highlighting.
   */
  function prettyJson(text) {
    const out = []; let depth = 0;
    const pad = () => '\n' + '  '.repeat(depth);
    const re = /"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null|[{}[\],:]|\s+/gy;
    let m; let expectKey = false;
    const stack = [];
    while ((m = re.exec(text)) !== null) {
      const tok = m[0];
      if (/^\s+$/.test(tok)) continue;
      const c = tok[0];
      if (c === '{' || c === '[') {
        stack.push(c);
        const close = c === '{' ? '}' : ']';
        const rest = text.slice(re.lastIndex).trimStart();
        if (rest.startsWith(close)) { // empty object or array on one line
          out.push([c + close, 'j-punc']);
          re.lastIndex = text.length - rest.length + 1;
          stack.pop();
          continue;
        }
        depth++;
        out.push([c, 'j-punc'], [pad(), '']);
        expectKey = c === '{';
      } else if (c === '}' || c === ']') {
        stack.pop(); depth--;
        out.push([pad(), ''], [c, 'j-punc']);
      } else if (c === ',') {
        out.push([',', 'j-punc'], [pad(), '']);
        expectKey = stack[stack.length - 1] === '{';
      } else if (c === ':') {
        out.push([': ', 'j-punc']);
      } else if (c === '"') {
        out.push([tok, expectKey ? 'j-key' : 'j-str']);
        expectKey = false;
      } else if (/[-\d]/.test(c)) {
        out.push([tok, 'j-num']);
      } else {
        out.push([tok, 'j-lit']);
      }
    }
    return out;
  }

  function hexDump(bytes) {
    const lines = [];
    const n = Math.min(bytes.length, SHOW_BYTES);
    for (let off = 0; off < n; off += 16) {
      const row = bytes.slice(off, Math.min(off + 16, n));
      const hx = Array.from(row, (b) => b.toString(16).padStart(2, '0')).join(' ').padEnd(47, ' ');
      const ascii = Array.from(row, (b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
      lines.push(off.toString(16).padStart(8, '0') + '  ' + hx + '  ' + ascii);
    }
    if (bytes.length > n) lines.push('… ' + (bytes.length - n) + ' more bytes not shown');
    return lines.join('\n');
  }

  const keyNameBytes = () => enc.encode($('key-name').value);

  /** Reads the key (value, ETag revision, expiry) and shows it. */
  async function openKey(bytes, message) {
    const seq = ++state.openSeq;
    const res = await api(pathOf(bytes));
    if (seq !== state.openSeq) return;
    state.pendingDelete = false;
    state.conflict = null;
    if (res.status === 404) {
      state.open = { bytes, label: labelOf(bytes), revision: -1, value: new Uint8Array(), kind: 'text', editing: false };
      renderOpen();
      setMessage(message || 'This key does not exist (any more).', message ? 'ok' : 'error');
      markSelected();
      return;
    }
    if (!res.ok) {
      setMessage('Cannot read the key: ' + await errorText(res), 'error');
      return;
    }
    const value = new Uint8Array(await res.arrayBuffer());
    if (seq !== state.openSeq) return;
    const expires = res.headers.get('Caskade-Expires-At');
    state.open = {
      bytes, label: labelOf(bytes), revision: etagRevision(res.headers.get('ETag')), value, ...kindOf(value),
      expiresAt: expires ? Number(expires) : 0, editing: false,
    };
    history.replaceState(null, '', '#' + encodeURIComponent(state.open.label));
    renderOpen();
    setMessage(message || '', 'ok');
    markSelected();
  }

  function newKey() {
    state.openSeq++;
    state.open = { bytes: new Uint8Array(), label: '', revision: 0, value: new Uint8Array(), kind: 'text', text: '', editing: true };
    state.conflict = null;
    renderOpen();
    $('key-name').value = state.prefix;
    $('value-edit').value = '';
    $('key-name').focus();
    setMessage('A new key: it is created only if no key of that name exists.', '');
  }

  function closeKey() {
    state.openSeq++;
    state.open = null;
    markSelected();
    $('editor').hidden = true;
    $('placeholder').hidden = false;
  }

  function renderOpen() {
    const o = state.open;
    $('placeholder').hidden = true;
    $('editor').hidden = false;
    $('notice').hidden = true;
    $('conflict').hidden = !state.conflict;
    $('confirm-delete').hidden = !state.pendingDelete;
    const isNew = o.revision === 0;
    const missing = o.revision < 0;
    $('key-name').readOnly = !isNew;
    if (!isNew) $('key-name').value = o.label;
    $('value-kind').textContent = isNew ? 'new' : missing ? 'absent' : o.kind === 'binary' ? 'binary · hex' : o.kind;
    const meta = [];
    if (!isNew && !missing) {
      meta.push('revision ' + o.revision, humanBytes(o.value.length));
      if (o.expiresAt) meta.push('expires ' + new Date(o.expiresAt).toLocaleString());
    }
    $('key-meta').textContent = meta.join(' · ');
    $('edit').hidden = o.editing || missing;
    $('save').hidden = !o.editing;
    $('cancel').hidden = !o.editing;
    $('format').hidden = !o.editing || o.kind === 'binary';
    $('delete').hidden = isNew || missing || state.pendingDelete;
    $('value-view').hidden = o.editing;
    $('value-edit').hidden = !o.editing;
    const view = $('value-view');
    view.classList.toggle('binary', o.kind === 'binary');
    if (o.kind === 'json') {
      view.replaceChildren(...prettyJson(o.text).map(([t, cls]) => (cls ? el('span', cls, t) : document.createTextNode(t))));
    } else if (o.kind === 'binary') {
      view.textContent = hexDump(o.value);
    } else {
      view.textContent = missing ? '' : o.text;
    }
  }

  function setMessage(text, cls) {
    const m = $('message');
    m.textContent = text;
    m.className = cls || '';
  }
  function showNotice(text) {
    $('notice').textContent = text;
    $('notice').hidden = false;
  }

  /** A commit touched the open key: refresh the view, or warn the editor that saving will conflict. */
  function openKeyChanged(revision, type) {
    const o = state.open;
    // our own write's event may arrive before its reply: not a change by someone else
    if (revision <= o.revision || o.saving) return;
    if (o.editing) {
      showNotice('This key was ' + (type === 'put' ? 'changed' : 'deleted') + ' at revision ' + revision
        + ' while you edit it; saving will show the conflict instead of overwriting.');
    } else if (!state.conflict) {
      openKey(o.bytes, type === 'put' ? 'Updated live to revision ' + revision + '.' : 'Deleted at revision ' + revision + '.');
    }
  }

  // ---------- the value pane: edit, save, delete, conflicts ----------

  function startEdit() {
    const o = state.open;
    if (o.kind === 'binary' && o.value.length > SHOW_BYTES) {
      setMessage('Too large to edit here (' + humanBytes(o.value.length) + ').', 'error');
      return;
    }
    o.editing = true;
    renderOpen();
    $('value-edit').value = o.kind === 'binary' ? hex(o.value).replace(/(..)(?!$)/g, '$1 ') : o.text;
    $('value-edit').focus();
    setMessage(o.kind === 'binary' ? 'Editing as hex bytes.' : '', '');
  }

  /** The edited value as bytes: UTF-8 text, or hex for a binary value. */
  function draft() {
    const t = $('value-edit').value;
    if (state.open.kind !== 'binary') return enc.encode(t);
    const digits = t.replace(/\s+/g, '');
    if (!/^([0-9a-fA-F]{2})*$/.test(digits)) throw new Error('Not hex bytes: use pairs of 0-9 a-f.');
    return Uint8Array.from(digits.match(/../g) || [], (h) => parseInt(h, 16));
  }

  /** A conditional write: If-Match the revision read, or If-None-Match: * for a key that must not exist. */
  function condition(revision) {
    return revision > 0 ? { 'If-Match': '"' + revision + '"' } : { 'If-None-Match': '*' };
  }

  async function save(expected) {
    const o = state.open;
    let body;
    try { body = draft(); } catch (e) { setMessage(e.message, 'error'); return; }
    if (o.revision === 0) {
      if ($('key-name').value === '') { setMessage('Give the key a name.', 'error'); return; }
      o.bytes = keyNameBytes();
      o.label = labelOf(o.bytes);
    }
    const rev = expected !== undefined ? expected : Math.max(o.revision, 0);
    $('save').disabled = true;
    o.saving = true;
    try {
      const res = await api(pathOf(o.bytes), { method: 'PUT', body, headers: condition(rev) });
      if (res.status === 412) { await showConflict('put', body); return; }
      if (!res.ok) { setMessage('Not saved: ' + await errorText(res), 'error'); return; }
      const { revision } = await res.json();
      await openKey(o.bytes, 'Saved at revision ' + revision + '.');
    } finally {
      o.saving = false;
      $('save').disabled = false;
    }
  }

  async function remove(expected) {
    const o = state.open;
    const rev = expected !== undefined ? expected : o.revision;
    o.saving = true; // until the pane is settled: our own delete's event must not reopen the key
    try {
      const res = await api(pathOf(o.bytes), { method: 'DELETE', headers: condition(rev) });
      state.pendingDelete = false;
      if (res.status === 412) { await showConflict('delete', null); return; }
      if (res.status === 404) { await openKey(o.bytes, 'Already deleted by someone else.'); return; }
      if (!res.ok) { renderOpen(); setMessage('Not deleted: ' + await errorText(res), 'error'); return; }
      const { revision } = await res.json();
      dropKey(hex(o.bytes));
      closeKey();
      history.replaceState(null, '', '#');
      updateInfo();
      setMessage('Deleted at revision ' + revision + '.', 'ok');
      $('placeholder').textContent = 'Deleted ' + o.label + ' at revision ' + revision + '.';
    } finally {
      o.saving = false;
    }
  }

  /** The write was refused because the key changed: show what it is now, keep the draft, let the user choose. */
  async function showConflict(op, body) {
    const o = state.open;
    const seq = state.openSeq;
    const res = await api(pathOf(o.bytes));
    if (seq !== state.openSeq) return;
    let current = null;
    if (res.ok) {
      current = { revision: etagRevision(res.headers.get('ETag')), value: new Uint8Array(await res.arrayBuffer()) };
    }
    state.conflict = { op, body, current };
    const was = o.revision > 0 ? 'at revision ' + o.revision : 'as a new key';
    let text;
    if (current === null) {
      text = 'Someone else deleted this key after you opened it ' + was + '. Nothing was written.';
    } else if (o.revision === 0) {
      text = 'A key named “' + o.label + '” already exists (revision ' + current.revision + '). Nothing was written. Its value:';
    } else {
      text = 'Someone else changed this key after you opened it ' + was + '; it is now at revision ' + current.revision
        + '. Nothing was written. The current value:';
    }
    $('conflict-text').textContent = text;
    const currentText = current === null ? '' : utf8OrNull(current.value);
    $('conflict-value').textContent = currentText === null ? hexDump(current.value)
      : currentText.length > 2000 ? currentText.slice(0, 2000) + '…' : currentText;
    $('conflict-value').hidden = current === null;
    $('conflict-overwrite').textContent = op === 'delete' ? 'Delete anyway' : current === null ? 'Create it again with my edit'
      : 'Overwrite with my edit';
    $('conflict').hidden = false;
    $('notice').hidden = true;
    $('confirm-delete').hidden = true;
    $('delete').hidden = o.editing;
    setMessage('', '');
  }

  $('conflict-reload').addEventListener('click', () => {
    const c = state.conflict;
    state.conflict = null;
    if (c && c.current === null && state.open.revision <= 0) { closeKey(); return; }
    openKey(state.open.bytes, 'Reloaded; your change was discarded.');
  });
  $('conflict-overwrite').addEventListener('click', async () => {
    const c = state.conflict;
    if (!c) return;
    $('conflict').hidden = true;
    state.conflict = null;
    // still conditional: against the value the user has just seen, so a third writer is caught too
    const seen = c.current ? c.current.revision : 0;
    if (c.op === 'delete') {
      if (seen === 0) { await openKey(state.open.bytes, 'Already deleted.'); return; }
      await remove(seen);
    } else {
      await save(seen);
    }
  });

  $('edit').addEventListener('click', startEdit);
  $('cancel').addEventListener('click', () => {
    if (state.open.revision === 0) { closeKey(); return; }
    openKey(state.open.bytes);
  });
  $('save').addEventListener('click', () => save());
  $('format').addEventListener('click', () => {
    const t = $('value-edit').value;
    if (!isJson(t)) { setMessage('Not valid JSON.', 'error'); return; }
    $('value-edit').value = prettyJson(t).map(([s]) => s).join('');
    setMessage('', '');
  });
  $('delete').addEventListener('click', () => { state.pendingDelete = true; renderOpen(); });
  $('delete-no').addEventListener('click', () => { state.pendingDelete = false; renderOpen(); });
  $('delete-yes').addEventListener('click', () => remove());
  $('new-key').addEventListener('click', newKey);
  $('value-edit').addEventListener('keydown', (ev) => {
    if ((ev.ctrlKey || ev.metaKey) && ev.key === 's') { ev.preventDefault(); save(); }
    if (ev.key === 'Escape') $('cancel').click();
  });

  // ---------- status ----------

  function fact(dl, name, value, title) {
    const dt = el('dt', '', name); const dd = el('dd', '', value);
    if (title) dd.title = title;
    dd.dataset.fact = name;
    dl.append(dt, dd);
  }

  /** Prometheus text to name -> sum over label sets. */
  function parseMetrics(text) {
    const m = new Map();
    for (const line of text.split('\n')) {
      if (!line || line[0] === '#') continue;
      const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
      if (match) m.set(match[1], (m.get(match[1]) || 0) + Number(match[3]));
    }
    return m;
  }

  async function poll() {
    clearTimeout(state.pollTimer);
    try {
      const [sres, mres] = await Promise.all([api('/v1/status'), api('/metrics')]);
      if (!sres.ok) throw new Error(await errorText(sres));
      const s = await sres.json();
      const metrics = mres.ok ? parseMetrics(await mres.text()) : new Map();
      renderStatus(s, metrics);
      $('status-error').textContent = '';
    } catch (e) {
      if (e instanceof Unauthorized) return;
      $('status-error').textContent = 'Status unavailable: ' + e.message;
    }
    state.pollTimer = setTimeout(poll, POLL_MS);
  }

  function renderStatus(s, metrics) {
    const now = performance.now();
    state.samples.push({ t: now, rev: s.revision });
    if (state.samples.length > SPARK + 1) state.samples.shift();
    const rates = [];
    for (let i = 1; i < state.samples.length; i++) {
      const a = state.samples[i - 1]; const b = state.samples[i];
      rates.push(Math.max(0, (b.rev - a.rev) / ((b.t - a.t) / 1000)));
    }
    const rate = rates.length ? rates[rates.length - 1] : 0;
    $('rate').textContent = rate < 10 ? rate.toFixed(1) : Math.round(rate).toString();
    const max = Math.max(1, ...rates);
    // the newest sample at the right edge, older ones scrolling off to the left
    $('spark-line').setAttribute('points', rates.map((r, i) => (120 - ((rates.length - 1 - i) / (SPARK - 1)) * 120).toFixed(1)
      + ',' + (29 - (r / max) * 28).toFixed(1)).join(' '));

    const dl = $('status');
    dl.replaceChildren();
    fact(dl, 'role', s.role);
    fact(dl, 'revision', String(s.revision));
    fact(dl, 'keys', String(s.keys));
    fact(dl, 'disk', humanBytes(s.diskBytes), 'live ' + humanBytes(s.liveBytes) + ', dead ' + humanBytes(s.deadBytes));
    fact(dl, 'dead', humanBytes(s.deadBytes));
    fact(dl, 'segments', String(s.segments));
    fact(dl, 'compacted', String(s.compactedRevision), 'history after this revision is complete');
    fact(dl, 'durability', s.durability);
    fact(dl, 'watchers', String(s.watches), 'open watches: SSE, WebSocket and RESP watches, replication');
    if (metrics.has('caskade_http_websockets')) fact(dl, 'websockets', String(metrics.get('caskade_http_websockets')));
    if (metrics.has('caskade_resp_clients')) fact(dl, 'RESP clients', String(metrics.get('caskade_resp_clients')));
    if (metrics.has('caskade_fsyncs')) fact(dl, 'fsyncs', String(metrics.get('caskade_fsyncs')));

    const role = $('role-info');
    role.replaceChildren();
    if (s.follow) {
      const f = s.follow;
      const box = el('div', 'dest');
      box.append(el('h2', '', 'Follows'), el('div', 'url', f.primary + (f.prefix ? ' (prefix ' + f.prefix + ')' : '')));
      const d = el('dl', 'facts');
      fact(d, 'state', f.state);
      fact(d, 'lag', f.lagRevisions + ' revisions');
      fact(d, 'breaker', f.breaker); d.lastChild.className = 'breaker-' + f.breaker;
      fact(d, 'write breaker', f.writeBreaker); d.lastChild.className = 'breaker-' + f.writeBreaker;
      fact(d, 'writes', f.readOnly ? 'refused (read-only)' : 'forwarded');
      if (f.lastError) fact(d, 'last error', f.lastError);
      box.append(d);
      role.append(box);
    }
    if (s.cluster) {
      const c = s.cluster;
      const box = el('div', 'dest');
      box.append(el('h2', '', 'Cluster ' + c.cluster), el('div', 'url', 'node ' + c.nodeId + ' · ' + c.redis));
      const d = el('dl', 'facts');
      fact(d, 'state', c.state);
      fact(d, 'lag', c.lagRevisions + ' revisions');
      fact(d, 'breaker', c.breaker); d.lastChild.className = 'breaker-' + c.breaker;
      fact(d, 'queued writes', String(c.queuedWrites));
      if (c.lastError) fact(d, 'last error', c.lastError);
      box.append(d);
      role.append(box);
    }
    const rep = $('replication');
    rep.replaceChildren();
    if (s.followers && s.followers.length) {
      rep.append(el('h2', '', 'Followers (' + s.followers.length + ')'));
      for (const f of s.followers) {
        const box = el('div', 'dest');
        box.append(el('div', 'url', f.address));
        const d = el('dl', 'facts');
        fact(d, 'copy', f.prefix ? 'prefix ' + f.prefix : 'everything');
        fact(d, 'who', f.replica);
        fact(d, 'since', f.since);
        box.append(d);
        rep.append(box);
      }
    }
    if (s.replication && s.replication.length) {
      rep.append(el('h2', '', 'Replication'));
      for (const r of s.replication) {
        const box = el('div', 'dest');
        box.append(el('div', 'url', r.url));
        const d = el('dl', 'facts');
        fact(d, 'state', r.state);
        fact(d, 'breaker', r.breaker); d.lastChild.className = 'breaker-' + r.breaker;
        fact(d, 'lag', r.lagRevisions + ' rev · ' + Number(r.lagSeconds).toFixed(1) + ' s');
        fact(d, 'shipped', String(r.shippedRevision));
        if (r.lastError) fact(d, 'last error', r.lastError);
        box.append(d);
        rep.append(box);
      }
    }
  }

  // ---------- start ----------

  function stopAll() {
    stopWatch();
    clearTimeout(state.pollTimer);
  }

  function start() {
    $('login').hidden = true;
    $('app').hidden = false;
    $('logout').hidden = !state.users;
    $('who').textContent = state.users && state.who ? 'logged in as ' + state.who : '';
    state.samples = [];
    resetList();
    loadPage();
    poll();
    const wanted = decodeURIComponent(location.hash.slice(1));
    if (wanted) openKey(enc.encode(wanted));
  }

  async function boot() {
    try {
      // without credentials first: an open server needs no login, and shows no login form
      let res = await tryLogin(null);
      if (res.status === 401) {
        state.users = true;
        if (state.auth) res = await tryLogin(state.auth);
        if (res.status === 401) {
          const stale = !!state.auth;
          state.auth = null;
          sessionStorage.removeItem('caskade.auth');
          showLogin(stale ? 'Your login is no longer accepted; log in again.' : '');
          return;
        }
      } else {
        state.auth = null;
      }
      start();
    } catch (e) {
      setConn('server unreachable', 'down');
      setTimeout(boot, 2000);
    }
  }

  boot();
})();
