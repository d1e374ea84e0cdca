// The worker's outbox: every write (a report, a workflow step, a visit, a
// photo) is a request kept in IndexedDB until the server has answered it,
// and sent in order, exactly once: each item carries the Idempotency-Key it
// got when it was made, so a send whose answer was lost is sent again and
// the server replays the first answer instead of doing it twice.
//
// An item may depend on the answer of an earlier one: a queued report's
// photos go to /incidents/{id}/attachments with the id the report got, and
// a resolve step names the ids of the photos uploaded before it. Such
// references are by the earlier item's key and are filled in from the kept
// answers when the item is sent, so its body is the same on every try.

const DB = 'gridd-field';
const VERSION = 1;

function open() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, VERSION);
    req.onupgradeneeded = () => {
      const db = req.result;
      if (!db.objectStoreNames.contains('outbox')) db.createObjectStore('outbox', { keyPath: 'seq', autoIncrement: true });
      if (!db.objectStoreNames.contains('results')) db.createObjectStore('results', { keyPath: 'key' });
      if (!db.objectStoreNames.contains('failed')) db.createObjectStore('failed', { keyPath: 'key' });
    };
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

let dbPromise = null;
const db = () => (dbPromise ||= open());

async function tx(stores, mode, fn) {
  const d = await db();
  return new Promise((resolve, reject) => {
    const t = d.transaction(stores, mode);
    let out;
    Promise.resolve(fn(t)).then((v) => { out = v; });
    t.oncomplete = () => resolve(out);
    t.onerror = () => reject(t.error);
    t.onabort = () => reject(t.error);
  });
}

const req = (r) => new Promise((resolve, reject) => { r.onsuccess = () => resolve(r.result); r.onerror = () => reject(r.error); });

export function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * The outbox.
 * @param {object} o  {headers(): object, owner(): string, onChange(count), onSent(item, body), onFailed(item, error), onAuth()}
 */
export function createOutbox(o) {
  let running = null, timer = null, delay = 1000, stopped = false;

  async function all() { return tx(['outbox'], 'readonly', (t) => req(t.objectStore('outbox').getAll())); }
  async function count() { return tx(['outbox'], 'readonly', (t) => req(t.objectStore('outbox').count())); }
  async function changed() { if (o.onChange) o.onChange(await count()); }

  /**
   * Queue items (in order, in one transaction). Each: {kind, method, path, body (object, Blob or null),
   * contentType, label, refs: {'{name}': key}, attachRefs: [key]} — a key is added when missing.
   */
  async function add(items) {
    const owner = o.owner ? o.owner() : '';
    const made = items.map((it) => ({ key: newKey(), created: new Date().toISOString(), owner, ...it }));
    await tx(['outbox'], 'readwrite', (t) => { for (const it of made) t.objectStore('outbox').add(it); });
    await changed();
    flush();
    return made;
  }

  async function resultOf(key) { return tx(['results'], 'readonly', (t) => req(t.objectStore('results').get(key))); }
  async function failedOf(key) { return tx(['failed'], 'readonly', (t) => req(t.objectStore('failed').get(key))); }

  /** The request of an item with its references filled in, or {missing} when an earlier answer is not there. */
  async function build(item) {
    let path = item.path;
    for (const [name, key] of Object.entries(item.refs || {})) {
      const r = await resultOf(key);
      if (!r) return { missing: key };
      path = path.replace(name, String(r.id));
    }
    let body = item.body;
    if (item.attachRefs && item.attachRefs.length) {
      const ids = [];
      for (const key of item.attachRefs) {
        const r = await resultOf(key);
        if (r) ids.push(r.id);  // a photo the server refused is left out, not the step
      }
      body = { ...body, attachments: ids };
    }
    const headers = { ...o.headers(), 'Idempotency-Key': item.key };
    if (body instanceof Blob) {
      headers['Content-Type'] = item.contentType || body.type || 'application/octet-stream';
    } else if (body !== null && body !== undefined) {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(body);
    }
    return { path, init: { method: item.method || 'POST', headers, body } };
  }

  async function finish(item, stores, fn) {
    await tx(['outbox', ...stores], 'readwrite', (t) => { t.objectStore('outbox').delete(item.seq); fn(t); });
  }

  function schedule(ms) {
    clearTimeout(timer);
    timer = setTimeout(flush, ms);
  }

  async function sendAll() {
    for (;;) {
      const items = await all();
      if (!items.length) { delay = 1000; return; }
      const item = items[0];
      if (o.owner && item.owner && item.owner !== o.owner()) {
        // Made by someone who has signed out since: never sent with another person's token.
        const error = { status: 0, code: 'other_worker', message: item.owner };
        await finish(item, ['failed'], (t) => t.objectStore('failed').put({ key: item.key, label: item.label, ...error }));
        if (o.onFailed) o.onFailed(item, error);
        await changed();
        continue;
      }
      const built = await build(item);
      if (built.missing) {
        // The item it depends on failed for good: this one cannot be sent.
        const f = await failedOf(built.missing);
        const error = { status: 0, code: 'dependency_failed', message: f ? f.message : 'an earlier item failed' };
        await finish(item, ['failed'], (t) => t.objectStore('failed').put({ key: item.key, label: item.label, ...error }));
        if (o.onFailed) o.onFailed(item, error);
        await changed();
        continue;
      }
      let res;
      try {
        res = await fetch(built.path, built.init);
      } catch {
        // No network: try again when it comes back, or after a while.
        schedule(delay);
        delay = Math.min(delay * 2, 30000);
        return;
      }
      const type = res.headers.get('content-type') || '';
      const body = type.includes('json') ? await res.json().catch(() => null) : await res.text().catch(() => '');
      if (res.ok) {
        const id = body && (body.id ?? (body.properties && body.properties.id));
        await finish(item, ['results'], (t) => t.objectStore('results').put({ key: item.key, id, at: Date.now() }));
        delay = 1000;
        if (o.onSent) o.onSent(item, body, res.headers.get('Idempotent-Replayed') === 'true');
        await changed();
        continue;
      }
      const err = (body && typeof body === 'object' && (body.error && typeof body.error === 'object' ? body.error : body)) || {};
      if (res.status === 409 && err.code === 'idempotency_in_progress' || res.status === 429 || res.status >= 500 || res.status === 408) {
        const after = Number(res.headers.get('Retry-After'));
        schedule(Number.isFinite(after) && after > 0 ? after * 1000 : delay);
        delay = Math.min(delay * 2, 30000);
        return;
      }
      if (res.status === 401) {
        // The token is gone: keep everything until the worker signs in again.
        if (o.onAuth) o.onAuth();
        return;
      }
      // Refused for good (outside the scope, not assigned, an illegal step...): keep it where the worker sees it.
      const error = { status: res.status, code: err.code || '', message: err.message || res.statusText };
      await finish(item, ['failed'], (t) => t.objectStore('failed').put({ key: item.key, label: item.label, ...error }));
      if (o.onFailed) o.onFailed(item, error);
      await changed();
    }
  }

  function flush() {
    if (stopped) return Promise.resolve();
    if (running) return running;
    clearTimeout(timer);
    running = sendAll().catch(() => schedule(delay)).finally(() => { running = null; });
    return running;
  }

  window.addEventListener('online', () => { delay = 1000; flush(); });
  changed();
  // Answers are kept for the items that refer to them; a week is plenty.
  tx(['results'], 'readwrite', (t) => {
    const week = Date.now() - 7 * 24 * 3600 * 1000;
    t.objectStore('results').openCursor().onsuccess = (e) => {
      const c = e.target.result;
      if (!c) return;
      if (c.value.at < week) c.delete();
      c.continue();
    };
  }).catch(() => {});

  return {
    add, flush, count, all, resultOf,
    async failed() { return tx(['failed'], 'readonly', (t) => req(t.objectStore('failed').getAll())); },
    /** Drop everything not sent yet (signing out). */
    async clear() { await tx(['outbox'], 'readwrite', (t) => t.objectStore('outbox').clear()); await changed(); },
    async clearFailed() { await tx(['failed'], 'readwrite', (t) => t.objectStore('failed').clear()); },
    stop() { stopped = true; clearTimeout(timer); },
    start() { stopped = false; flush(); },
  };
}
