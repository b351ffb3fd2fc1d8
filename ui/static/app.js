// The skiff web UI: one page that reads and changes the cluster through the
// agent's /v1 API. Everything the API returns is put on the page as text
// (textContent), never as markup, so names, reasons and log lines cannot
// inject code. The token lives in sessionStorage: it is sent as the API's
// Authorization header to this agent only and is gone when the tab closes.
'use strict';

const TOKEN_KEY = 'skiff.token';
// How often lists are fetched again when no event stream tells of changes,
// and, with one, how often they are checked anyway in case it missed one.
const POLL_MS = 2000;
const STREAM_POLL_MS = 15000;
// The most log text and events kept on the page, so that a long follow
// does not grow the tab without bound.
const MAX_LOG_CHARS = 200000;
const MAX_EVENTS = 500;

const state = {
  token: sessionStorage.getItem(TOKEN_KEY) || '',
  health: null,
  nodes: [],
  services: [],
  tasks: [],
  deployments: [],
  // usage is what each node's containers use, fetched only while the
  // nodes page shows, since every agent asks its engine for it.
  usage: [],
  events: [],
  // streaming tells whether the agent's event stream is open; it is null
  // until the first try, false when the agent serves none.
  streaming: null,
  view: null,
};

class AuthError extends Error {}

// api calls the agent's API and returns the decoded answer. Errors carry
// the API's own message, which names the field at fault.
async function api(method, path, body, signal) {
  const headers = {Accept: 'application/json'};
  if (state.token) headers.Authorization = 'Bearer ' + state.token;
  const init = {method, headers, cache: 'no-store', signal};
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  if (res.status === 401) throw new AuthError('the agent does not know this token');
  const text = await res.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch (e) { data = null; }
  }
  if (!res.ok) {
    let msg = res.status + ' ' + res.statusText;
    if (data && data.error) msg = data.field ? data.field + ': ' + data.error : data.error;
    throw new Error(msg);
  }
  return data;
}

// el builds an element; attrs set attributes (on* names are refused, so
// that no handler is ever made from a string), children are nodes or text.
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) throw new Error('el: use addEventListener for ' + k);
    e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function button(label, attrs, onClick) {
  const b = el('button', Object.assign({type: 'button'}, attrs), label);
  b.addEventListener('click', async () => {
    b.disabled = true;
    try { await onClick(); } catch (e) { fail(e); } finally { b.disabled = false; }
  });
  return b;
}

// armed holds, by key, until when a confirmButton waits for its second
// click. It lives outside the buttons because views redraw their tables on
// every change of the cluster, which makes the buttons anew.
const armed = new Map();
const ARM_MS = 5000;

// confirmButton acts on a second click within ARM_MS of the first, which
// relabels it: a blocking confirm() would freeze the page's live updates
// and is awkward on a phone.
function confirmButton(key, label, confirmLabel, attrs, onConfirm) {
  const isArmed = (armed.get(key) || 0) > Date.now();
  const b = button(isArmed ? confirmLabel : label, Object.assign({}, attrs, {class: (attrs.class || '') + (isArmed ? ' armed' : '')}), async () => {
    if ((armed.get(key) || 0) <= Date.now()) {
      armed.set(key, Date.now() + ARM_MS);
      b.textContent = confirmLabel;
      b.classList.add('armed');
      setTimeout(() => {
        if ((armed.get(key) || 0) <= Date.now()) { b.textContent = label; b.classList.remove('armed'); }
      }, ARM_MS + 50);
      return;
    }
    armed.delete(key);
    await onConfirm();
  });
  return b;
}

// table renders rows as a table that CSS turns into cards on a phone: every
// cell carries its column's name in data-label.
function table(columns, rows, empty) {
  if (rows.length === 0) return el('p', {class: 'empty'}, empty);
  const head = el('tr', {}, columns.map((c) => el('th', {scope: 'col'}, c)));
  const body = rows.map((r) => {
    const tr = el('tr', r.attrs || {});
    r.cells.forEach((cell, i) => tr.append(el('td', {'data-label': columns[i]}, cell)));
    return tr;
  });
  return el('table', {}, el('thead', {}, head), el('tbody', {}, body));
}

function link(href, text) { return el('a', {href}, text); }
function shortID(id) { return id ? id.slice(-8) : ''; }

function age(ms) {
  if (!ms) return '';
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 60) return s + 's';
  if (s < 3600) return Math.floor(s / 60) + 'm';
  if (s < 86400) return Math.floor(s / 3600) + 'h';
  return Math.floor(s / 86400) + 'd';
}

function statusBadge(s) {
  const v = String(s || '').toLowerCase();
  return el('span', {class: 'badge ' + v.replace(/[^a-z_]/g, '')}, s || '-');
}

function tags(list) {
  if (!list || list.length === 0) return '';
  return el('span', {class: 'tags'}, list.map((t) => el('span', {class: 'tag'}, t.value ? t.key + '=' + t.value : t.key)));
}

function nodeName(id) {
  const n = state.nodes.find((x) => x.id === id);
  return n ? n.name : shortID(id);
}

// meter shows how much of a node's capacity its tasks reserve.
function meter(used, total, unit) {
  const pct = total > 0 ? Math.min(100, Math.round(100 * used / total)) : 0;
  const bar = el('span', {class: 'meter', role: 'meter', 'aria-valuemin': 0, 'aria-valuemax': total, 'aria-valuenow': used});
  const fill = el('span', {class: 'fill' + (pct >= 90 ? ' high' : '')});
  fill.style.width = pct + '%';
  bar.append(fill);
  return el('span', {class: 'usage'}, bar, ` ${used} / ${total} ${unit}`);
}

let noticeTimer = 0;
function notice(text, isError) {
  const n = document.getElementById('notice');
  n.textContent = text;
  n.className = 'notice' + (isError ? ' error' : '');
  n.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => { n.hidden = true; }, isError ? 8000 : 3000);
}

function fail(e) {
  if (e instanceof AuthError) { logout(e.message); return; }
  if (e && e.name === 'AbortError') return;
  notice(String(e && e.message ? e.message : e), true);
}

// ---- views. Each has mount(root), which builds what stays put (forms the
// user types into), and update(), which redraws the parts that follow the
// cluster; unmount() ends what the view started.

const views = {
  services: () => ({
    title: 'Services',
    mount(root) { this.list = el('div'); root.append(el('h1', {}, 'Services'), this.list); },
    update() {
      const rows = state.services.map((s) => ({
        attrs: {'data-service': s.name},
        cells: [link('#/services/' + encodeURIComponent(s.name), s.name), s.taskDefinition,
          s.schedulingStrategy === 'DAEMON' ? 'daemon' : String(s.desiredCount),
          String(s.runningCount), String(s.pendingCount), tags(s.tags), s.message || ''],
      }));
      this.list.replaceChildren(table(['Name', 'Task definition', 'Desired', 'Running', 'Pending', 'Tags', 'Message'], rows,
        'No services yet: `skiff apply -f SERVICE.json` creates one.'));
    },
  }),

  service: (name) => ({
    title: name,
    async mount(root) {
      this.info = el('div');
      this.deps = el('div');
      this.taskList = el('div');
      this.eventList = el('div');
      const count = el('input', {id: 'scale-count', type: 'number', min: 0, inputmode: 'numeric', required: true, 'aria-label': 'desired count'});
      const form = el('form', {id: 'scale-form', class: 'inline'}, el('label', {for: 'scale-count'}, 'Desired count'), count,
        el('button', {id: 'scale-submit', type: 'submit'}, 'Scale'));
      form.addEventListener('submit', async (ev) => {
        ev.preventDefault();
        const n = Number(count.value);
        if (!Number.isInteger(n) || n < 0) { notice('desired count: expected a whole number of 0 or more', true); return; }
        form.querySelector('button').disabled = true;
        try {
          await api('POST', '/v1/services/' + encodeURIComponent(name) + '/scale', {desiredCount: n});
          notice(`${name} scaled to ${n}`);
          await refresh();
        } catch (e) { fail(e); } finally { form.querySelector('button').disabled = false; }
      });
      this.form = form;
      this.count = count;
      root.append(el('p', {class: 'crumbs'}, link('#/services', 'Services'), ' / '), el('h1', {}, name), this.info, form,
        el('h2', {}, 'Tasks'), this.taskList, el('h2', {}, 'Deployments'), this.deps, el('h2', {}, 'Events'), this.eventList);
    },
    update() {
      const s = state.services.find((x) => x.name === name);
      if (!s) { this.info.replaceChildren(el('p', {class: 'empty'}, 'No service ' + name + '.')); this.form.hidden = true; return; }
      const daemon = s.schedulingStrategy === 'DAEMON';
      this.form.hidden = daemon;
      if (document.activeElement !== this.count && this.count.value === '') this.count.value = s.desiredCount;
      this.info.replaceChildren(el('dl', {class: 'facts'},
        el('dt', {}, 'Task definition'), el('dd', {}, s.taskDefinition),
        el('dt', {}, 'Desired'), el('dd', {id: 'service-desired'}, daemon ? 'one per eligible node (' + s.desiredCount + ')' : String(s.desiredCount)),
        el('dt', {}, 'Running'), el('dd', {}, String(s.runningCount)),
        el('dt', {}, 'Pending'), el('dd', {}, String(s.pendingCount)),
        s.tags && s.tags.length ? [el('dt', {}, 'Tags'), el('dd', {}, tags(s.tags))] : null,
        s.message ? [el('dt', {}, 'Placement'), el('dd', {class: 'error'}, s.message)] : null));
      this.taskList.replaceChildren(taskTable(state.tasks.filter((t) => t.service === name)));
      const deps = state.deployments.filter((d) => d.service === name);
      this.deps.replaceChildren(table(['Deployment', 'From', 'To', 'State', 'Running', 'Healthy', 'Failed', 'Old', 'Age', 'Reason'],
        deps.map((d) => ({cells: [shortID(d.id), d.from || '-', d.to, statusBadge(d.state), d.running + '/' + d.desired,
          String(d.healthy), String(d.failed), String(d.oldRunning), age(d.createdAt), d.reason || '']})),
        'No deployments yet.'));
      this.eventList.replaceChildren(eventTable(state.events.filter((e) => concerns(e, 'service', name))));
    },
  }),

  tasks: () => ({
    title: 'Tasks',
    mount(root) { this.list = el('div'); root.append(el('h1', {}, 'Tasks'), this.list); },
    update() { this.list.replaceChildren(taskTable(state.tasks)); },
  }),

  task: (id) => ({
    title: 'Task ' + shortID(id),
    mount(root) {
      this.info = el('div');
      this.containers = el('div');
      this.picker = el('select', {id: 'log-container', 'aria-label': 'container'});
      this.picker.addEventListener('change', () => this.follow());
      this.logs = el('pre', {id: 'logs', class: 'logs', tabindex: 0});
      this.eventList = el('div');
      this.stopBtn = confirmButton('stop ' + id, 'Stop task', 'Stop it? A service replaces it', {id: 'task-stop', class: 'danger'}, async () => {
        await api('POST', '/v1/tasks/' + encodeURIComponent(id) + '/stop', {});
        notice('task ' + shortID(id) + ' is stopping');
        await refresh();
      });
      root.append(el('p', {class: 'crumbs'}, link('#/tasks', 'Tasks'), ' / '), el('h1', {}, 'Task ', el('code', {}, shortID(id))),
        this.info, this.stopBtn, el('h2', {}, 'Containers'), this.containers,
        el('h2', {}, 'Logs ', this.picker), this.logs, el('h2', {}, 'Events'), this.eventList);
    },
    update() {
      const t = state.tasks.find((x) => x.id === id);
      if (!t) { this.info.replaceChildren(el('p', {class: 'empty'}, 'No running task ' + id + '.')); this.stopBtn.hidden = true; return; }
      this.stopBtn.hidden = t.desiredStatus !== 'RUNNING';
      this.info.replaceChildren(el('dl', {class: 'facts'},
        el('dt', {}, 'Id'), el('dd', {}, el('code', {}, t.id)),
        el('dt', {}, 'Service'), el('dd', {}, t.service ? link('#/services/' + encodeURIComponent(t.service), t.service) : '(one-off)'),
        el('dt', {}, 'Task definition'), el('dd', {}, t.taskDefinition),
        el('dt', {}, 'Node'), el('dd', {}, nodeName(t.node)),
        el('dt', {}, 'Status'), el('dd', {}, statusBadge(t.lastStatus), ' (desired ', t.desiredStatus, ')'),
        t.hostPorts && t.hostPorts.length ? [el('dt', {}, 'Ports'), el('dd', {}, t.hostPorts.join(', '))] : null,
        t.stoppedReason ? [el('dt', {}, 'Reason'), el('dd', {}, t.stoppedReason)] : null,
        el('dt', {}, 'Age'), el('dd', {}, age(t.createdAt))));
      this.eventList.replaceChildren(eventTable(state.events.filter((e) => concerns(e, 'task', id))));
      const cs = t.containers || [];
      this.containers.replaceChildren(table(['Name', 'Status', 'Health', 'Exit', 'Reason', 'Docker id'],
        cs.map((c) => ({cells: [c.name, statusBadge(c.status), c.health || '', c.exitCode === undefined ? '' : String(c.exitCode), c.reason || '', shortID(c.dockerId)]})),
        'No containers reported yet.'));
      const names = cs.map((c) => c.name);
      const have = Array.from(this.picker.options).map((o) => o.value);
      if (names.join('\n') !== have.join('\n')) {
        const was = this.picker.value;
        this.picker.replaceChildren(...names.map((n) => el('option', {value: n}, n)));
        if (names.includes(was)) this.picker.value = was;
        if (!this.stream || this.picker.value !== was) this.follow();
      }
    },
    // follow streams the picked container's log into the page until the
    // view goes or another container is picked. A stream cut by the
    // network (fetch's TypeError, not an answer of the agent's) is started
    // again after a pause, from the log's beginning, as the page itself
    // would be on a reload.
    follow() {
      if (this.stream) this.stream.abort();
      this.stream = new AbortController();
      const signal = this.stream.signal;
      const pre = this.logs;
      pre.textContent = '';
      const q = new URLSearchParams({follow: 'true'});
      if (this.picker.value) q.set('container', this.picker.value);
      readStream('/v1/tasks/' + encodeURIComponent(id) + '/logs?' + q, signal, (chunk) => {
        const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
        let text = pre.textContent + chunk;
        if (text.length > MAX_LOG_CHARS) text = text.slice(text.length - MAX_LOG_CHARS);
        pre.textContent = text;
        if (atEnd) pre.scrollTop = pre.scrollHeight;
      }).catch((e) => {
        if (e.name === 'AbortError') return;
        pre.append(document.createTextNode('\n[log stream ended: ' + e.message + ']\n'));
        if (e instanceof TypeError) {
          setTimeout(() => { if (!signal.aborted) this.follow(); }, 2000);
        }
      });
    },
    unmount() { if (this.stream) this.stream.abort(); },
  }),

  nodes: () => ({
    title: 'Nodes',
    wantsUsage: true,
    mount(root) { this.list = el('div'); root.append(el('h1', {}, 'Nodes'), this.list); },
    update() {
      const rows = state.nodes.map((n) => {
        const u = state.usage.find((x) => x.node === n.id);
        let cpu = 0, mem = 0, count = 0;
        for (const t of state.tasks) {
          if (t.node === n.id && t.lastStatus !== 'STOPPED' && t.lastStatus !== 'LOST') { cpu += t.cpu; mem += t.memory; count++; }
        }
        const draining = n.eligibility === 'ineligible';
        const act = async () => {
          await api('POST', '/v1/nodes/' + encodeURIComponent(n.id) + '/drain', {enable: !draining});
          notice(n.name + (draining ? ' takes tasks again' : ' is draining'));
          await refresh();
        };
        const drain = draining ? button('Undrain', {'data-drain': n.name}, act)
          : confirmButton('drain ' + n.id, 'Drain', 'Drain? Its tasks move', {'data-drain': n.name, class: 'danger'}, act);
        let used = '';
        if (u && u.error) used = el('span', {class: 'error'}, u.error);
        else if (u) used = [meter(Math.round(u.cpuUsed), n.cpu, 'cpu'), el('br'), meter(Math.round(u.memoryUsedBytes / 1048576), n.memory, 'MiB')];
        return {attrs: {'data-node': n.name}, cells: [n.name, statusBadge(n.status), n.eligibility, String(count),
          meter(cpu, n.cpu, 'cpu'), meter(mem, n.memory, 'MiB'), used, tags(n.tags), n.statusReason || n.engineError || '', drain]};
      });
      this.list.replaceChildren(table(['Name', 'Status', 'Eligibility', 'Tasks', 'CPU reserved', 'Memory reserved', 'Used', 'Tags', 'Reason', ''],
        rows, 'No nodes registered.'));
    },
  }),

  events: () => ({
    title: 'Events',
    mount(root) { this.list = el('div'); root.append(el('h1', {}, 'Events'), this.list); },
    update() { this.list.replaceChildren(eventTable(state.events)); },
  }),
};

function taskTable(tasks) {
  const rows = tasks.map((t) => ({
    attrs: {'data-task': t.id},
    cells: [link('#/tasks/' + encodeURIComponent(t.id), shortID(t.id)), t.service || '(one-off)', t.taskDefinition, nodeName(t.node),
      statusBadge(t.lastStatus), t.desiredStatus, age(t.createdAt), t.stoppedReason || ''],
  }));
  return table(['Id', 'Service', 'Task definition', 'Node', 'Status', 'Desired', 'Age', 'Reason'], rows, 'No running tasks.');
}

// concerns tells whether an event names an object: its service, task,
// node or deployment field.
function concerns(e, kind, id) { return e[kind] === id; }

// eventTable lists events newest first, linking the service and the task
// each concerns.
function eventTable(events) {
  const rows = events.slice().reverse().map((e) => ({
    attrs: {'data-event': e.kind},
    cells: [e.time ? new Date(e.time).toLocaleString() : '', e.kind,
      e.service ? link('#/services/' + encodeURIComponent(e.service), e.service) : '',
      e.task ? link('#/tasks/' + encodeURIComponent(e.task), shortID(e.task)) : '', e.message || ''],
  }));
  return table(['Time', 'Kind', 'Service', 'Task', 'Message'], rows,
    state.streaming === false ? 'This agent serves no events.' : 'No events yet.');
}

// ---- live data.

let refreshTimer = 0;
let refreshing = null;

// refresh fetches what every view shows and redraws the current one. Calls
// that come while one runs share it.
function refresh() {
  if (refreshing) return refreshing;
  refreshing = (async () => {
    try {
      const [health, nodes, services, tasks, deployments] = await Promise.all([
        api('GET', '/v1/health'), api('GET', '/v1/nodes'), api('GET', '/v1/services'), api('GET', '/v1/tasks'), api('GET', '/v1/deployments')]);
      Object.assign(state, {health, nodes, services, tasks, deployments});
      if (state.view && state.view.wantsUsage) {
        // An agent without usage (an older release) leaves the column empty.
        state.usage = await api('GET', '/v1/usage').catch((e) => { if (e instanceof AuthError) throw e; return []; });
      }
      const c = document.getElementById('cluster');
      c.textContent = health.name + (health.isLeader ? ' (leader)' : '') + ' · index ' + health.index + (state.streaming ? ' · live' : '');
      if (state.view) state.view.update();
    } catch (e) {
      fail(e);
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

function schedule() {
  clearTimeout(refreshTimer);
  if (!state.token && state.needsToken) return;
  refreshTimer = setTimeout(async () => {
    if (!document.hidden) await refresh();
    schedule();
  }, state.streaming ? STREAM_POLL_MS : POLL_MS);
}

// readStream reads a streamed answer of the API chunk by chunk, calling
// onOpen (when given) once the agent has answered 200 and before the first
// chunk, which may be long in coming. fetch is used rather than EventSource
// because EventSource cannot send the Authorization header.
async function readStream(path, signal, onChunk, accept, onOpen) {
  const headers = {};
  if (accept) headers.Accept = accept;
  if (state.token) headers.Authorization = 'Bearer ' + state.token;
  const res = await fetch(path, {headers, cache: 'no-store', signal});
  if (res.status === 401) throw new AuthError('the agent does not know this token');
  if (!res.ok) {
    const text = await res.text();
    let msg = res.status + ' ' + res.statusText;
    try { const d = JSON.parse(text); if (d.error) msg = d.error; } catch (e) { /* the status says enough */ }
    const err = new Error(msg);
    err.status = res.status;
    throw err;
  }
  if (onOpen) onOpen();
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  for (;;) {
    const {value, done} = await reader.read();
    if (done) return;
    onChunk(dec.decode(value, {stream: true}));
  }
}

let eventStream = null;
let lastEventID = '';

// followEvents reads the agent's Server-Sent Events stream (GET /v1/events)
// and refreshes the page on each event, reconnecting after the last log
// index it had whole. The page counts as live as soon as the agent answers,
// not at the first event: a stream resumed after a dropped connection (a
// laptop changing networks) may have nothing to send for a long time. An
// agent without the stream (404, an older release) leaves the page polling.
async function followEvents() {
  if (eventStream) eventStream.abort();
  eventStream = new AbortController();
  const signal = eventStream.signal;
  let buf = '';
  let debounce = 0;
  for (;;) {
    try {
      const q = lastEventID ? '?since=' + encodeURIComponent(lastEventID) : '';
      buf = '';
      await readStream('/v1/events' + q, signal, (chunk) => {
        buf += chunk;
        let i;
        while ((i = buf.search(/\r?\n\r?\n/)) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(buf.slice(i).match(/^\r?\n\r?\n/)[0].length + i);
          const ev = parseSSE(block);
          if (!ev) continue;
          // Events this agent no longer keeps are gone; the lists, fetched
          // again below, are still whole.
          if (ev.kind === 'missed') { notice('some older events are no longer kept'); continue; }
          state.events.push(ev);
          if (state.events.length > MAX_EVENTS) state.events.splice(0, state.events.length - MAX_EVENTS);
          clearTimeout(debounce);
          debounce = setTimeout(refresh, 150);
        }
      }, 'text/event-stream', () => {
        if (state.streaming !== true) { state.streaming = true; schedule(); refresh(); }
      });
    } catch (e) {
      if (signal.aborted) return;
      if (e instanceof AuthError) { fail(e); return; }
      if (e.status === 404) {
        state.streaming = false;
        if (state.view) state.view.update();
        return;
      }
    }
    state.streaming = null;
    await new Promise((r) => setTimeout(r, 2000));
    if (signal.aborted) return;
  }
}

// parseSSE decodes one Server-Sent Events block; its data is the event as
// JSON. Comments (keep-alives) give null.
function parseSSE(block) {
  let data = '';
  let id = '';
  let name = '';
  for (const line of block.split(/\r?\n/)) {
    if (line.startsWith(':')) continue;
    const j = line.indexOf(':');
    const field = j < 0 ? line : line.slice(0, j);
    const value = j < 0 ? '' : line.slice(j + 1).replace(/^ /, '');
    if (field === 'data') data += (data ? '\n' : '') + value;
    else if (field === 'id') id = value;
    else if (field === 'event') name = value;
  }
  if (!data) return null;
  if (id) lastEventID = id;
  try {
    const ev = JSON.parse(data);
    if (name && !ev.kind) ev.kind = name;
    return ev;
  } catch (e) {
    return {kind: name, message: data};
  }
}

// ---- routing and login.

function route() {
  const parts = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  switch (parts[0]) {
    case 'services': return parts[1] ? ['services', views.service(parts[1])] : ['services', views.services()];
    case 'tasks': return parts[1] ? ['tasks', views.task(parts[1])] : ['tasks', views.tasks()];
    case 'nodes': return ['nodes', views.nodes()];
    case 'events': return ['events', views.events()];
    default: return ['services', views.services()];
  }
}

function show() {
  if (state.view && state.view.unmount) state.view.unmount();
  const [nav, view] = route();
  for (const a of document.querySelectorAll('[data-nav]')) a.classList.toggle('active', a.dataset.nav === nav);
  const root = document.getElementById('main');
  root.replaceChildren();
  state.view = view;
  document.title = view.title + ' · skiff';
  view.mount(root);
  view.update();
}

function showLogin(message) {
  document.getElementById('nav').hidden = true;
  document.getElementById('logout').hidden = true;
  document.getElementById('cluster').textContent = '';
  if (state.view && state.view.unmount) state.view.unmount();
  state.view = null;
  const root = document.getElementById('main');
  root.replaceChildren(document.getElementById('login-template').content.cloneNode(true));
  const form = document.getElementById('login-form');
  document.getElementById('login-error').textContent = message || '';
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const token = document.getElementById('login-token').value.trim();
    if (!token) return;
    state.token = token;
    try {
      await api('GET', '/v1/nodes');
    } catch (e) {
      state.token = '';
      document.getElementById('login-error').textContent = e instanceof AuthError ? 'token: ' + e.message : String(e.message);
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, token);
    start();
  });
  document.getElementById('login-token').focus();
}

function logout(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  state.token = '';
  state.needsToken = true;
  clearTimeout(refreshTimer);
  if (eventStream) eventStream.abort();
  showLogin(message);
}

async function start() {
  // An agent in --dev mode takes requests without a token; any other
  // answers 401 until the user logs in.
  try {
    await api('GET', '/v1/nodes');
  } catch (e) {
    if (e instanceof AuthError) { state.needsToken = true; showLogin(state.token ? 'token: ' + e.message : ''); return; }
    fail(e);
  }
  document.getElementById('nav').hidden = false;
  document.getElementById('logout').hidden = !state.token;
  show();
  await refresh();
  schedule();
  followEvents();
}

window.addEventListener('hashchange', () => { if (state.view) { show(); refresh(); } });
document.addEventListener('visibilitychange', () => { if (!document.hidden && state.view) refresh(); });
document.getElementById('logout').addEventListener('click', () => logout(''));
start();
