// The programme manager's modeller: bpmn-js Modeler, saving drafts that the server checks with
// the deploy rules, markers on the elements with problems, a diff against the deployed
// version, and deployment with a change note. Bundled by esbuild at install time; no CDN.
import Modeler from 'bpmn-js/lib/Modeler';
import { layoutProcess } from 'bpmn-auto-layout';
import { draftClient } from './drafts';
import { propertiesPanel } from './properties/panel';
import './properties/panel.css';

const MARKERS = ['problem', 'diff-added', 'diff-changed', 'sim-path', 'sim-stop'];

async function start(root) {
  const api = root.dataset.api;
  const file = root.dataset.file;
  const csrf = root.dataset.csrf;
  const text = JSON.parse(root.querySelector('#modeller-text').textContent);
  const canvasEl = root.querySelector('.modeller-canvas');
  const status = root.querySelector('[data-testid="modeller-status"]');
  const problemsEl = root.querySelector('[data-testid="problems"]');
  // The keyboard (Ctrl+Z, Ctrl+Y, Delete…) acts when the diagram has the focus; bpmn-js 18 binds
  // it to the canvas itself (a `bindTo` option is refused with a console error).
  const modeler = new Modeler({ container: canvasEl });
  // bpmn-js rebuilds every diagram plane from what it draws when it saves (BpmnDiOrdering),
  // which drops the shapes of elements it cannot draw (e.g. a process no pool shows in a
  // collaboration diagram, as other tools write them). Put those back after it, so a save keeps
  // the file's whole layout.
  let undrawn = [];
  modeler.on('import.done', () => {
    const known = modeler.get('elementRegistry');
    undrawn = [];
    (modeler.getDefinitions()?.diagrams || []).forEach((diagram) => {
      (diagram.plane?.planeElement || []).forEach((di) => {
        if (di.bpmnElement && !known.get(di.bpmnElement.id)) undrawn.push([diagram.plane, di]);
      });
    });
  });
  modeler.on('saveXML.start', 500, () => {
    undrawn.forEach(([plane, di]) => {
      const kept = plane.get('planeElement');
      if (!kept.includes(di)) kept.push(di);
    });
  });
  const source = await (await fetch(`${api}/source?file=${encodeURIComponent(file)}`)).json();
  let xml = source.xml;
  if (!xml.includes('BPMNDiagram')) xml = await layoutProcess(xml);
  await modeler.importXML(xml);
  // The properties panel: what Aqd executes on the selected element (forms, due dates, roles,
  // messages, timers, conditions, decisions), with the catalog of the programme's forms,
  // decisions and roles; its labels come from the page, in the page's language.
  // Without the catalog (an error answer) the panel still edits, with empty lists.
  const catalog = await fetch(`${api}/catalog`).then((r) => (r.ok ? r.json() : {})).catch(() => ({}));
  const panel = propertiesPanel(modeler, {
    container: root.querySelector('[data-testid="properties-panel"]'),
    text: JSON.parse(root.querySelector('#properties-text').textContent),
    lang: document.documentElement.lang || 'fr',
    catalog: { forms: catalog.forms || [], decisions: catalog.decisions || [], roles: catalog.roles || [] },
  });
  const canvas = modeler.get('canvas');
  const overlays = modeler.get('overlays');
  const registry = modeler.get('elementRegistry');
  canvas.zoom('fit-viewport');

  function clear() {
    registry.getAll().forEach((e) => MARKERS.forEach((m) => canvas.removeMarker(e.id, m)));
    overlays.remove({ type: 'problem' });
    problemsEl.replaceChildren();
  }

  function show(problems) {
    clear();
    panel.setProblems(problems);
    for (const p of problems) {
      const li = document.createElement('li');
      li.textContent = `${p.element ? p.element + ': ' : ''}${p.message}`;
      li.dataset.element = p.element || '';
      problemsEl.appendChild(li);
      if (p.element && registry.get(p.element)) {
        canvas.addMarker(p.element, 'problem');
        overlays.add(p.element, 'problem', {
          position: { top: -14, left: 0 },
          html: `<div class="problem-badge" title="${p.message.replace(/"/g, '&quot;')}">!</div>`,
        });
      }
    }
    root.dataset.problems = String(problems.length);
  }

  const { call, save, deploy } = draftClient(root, modeler, show);

  async function diff() {
    const d = await call('GET', `/diff?file=${encodeURIComponent(file)}`);
    clear();
    d.added.forEach((id) => registry.get(id) && canvas.addMarker(id, 'diff-added'));
    d.changed.forEach((id) => registry.get(id) && canvas.addMarker(id, 'diff-changed'));
    root.querySelector('[data-testid="diff-summary"]').textContent =
      `+${d.added.length} ~${d.changed.length} -${d.removed.length}` +
      (d.removed.length ? ` (${d.removed.join(', ')})` : '');
    root.dataset.diff = JSON.stringify(d);
    return d;
  }

  // Simulation: run sample cases on the draft, list each case's path and decisions, and
  // highlight the path of the chosen case on the diagram.
  const sim = root.querySelector('[data-testid="simulation"]');
  const simStatus = sim.querySelector('[data-testid="simulation-status"]');

  function showPath(run) {
    clear();
    // A flow was taken when both its ends ran, its target after its source (a sub-process's
    // inner steps, which may not be drawn, come between a flow's ends).
    const first = new Map();
    run.path.forEach((id, i) => {
      if (!first.has(id)) first.set(id, i);
      if (registry.get(id)) canvas.addMarker(id, 'sim-path');
    });
    registry.filter((e) => e.type === 'bpmn:SequenceFlow').forEach((flow) => {
      const from = first.get(flow.source.id);
      const to = first.get(flow.target.id);
      if (from !== undefined && to !== undefined && to > from) canvas.addMarker(flow.id, 'sim-path');
    });
    (run.waiting_tasks || []).forEach((id) => registry.get(id) && canvas.addMarker(id, 'sim-stop'));
    root.dataset.simPath = run.path.join(' ');
  }

  function cell(text, ltr) {
    const td = document.createElement('td');
    td.textContent = text;
    if (ltr) td.dir = 'ltr';
    return td;
  }

  async function simulate(cases, drafts = true) {
    const result = await call('POST', '/simulate', { cases, drafts });
    const body = sim.querySelector('[data-testid="simulation-results"] tbody');
    body.replaceChildren();
    result.cases.forEach((run, i) => {
      const tr = document.createElement('tr');
      tr.dataset.testid = 'simulation-case';
      tr.dataset.status = run.status;
      tr.appendChild(cell(run.name));
      const waits = [...(run.waiting_tasks || []), ...(run.waiting_messages || [])];
      const outcome = sim.dataset[`msg${run.status[0].toUpperCase()}${run.status.slice(1)}`] || run.status;
      tr.appendChild(cell(run.error ? `${outcome}: ${run.error}`
        : (waits.length ? `${outcome} · ${sim.dataset.msgWaitsFor} ${waits.join(', ')}` : outcome)));
      tr.appendChild(cell((run.path || []).join(' → '), true));
      tr.appendChild(cell((run.decisions || []).map((d) => `${d.decision}: ${Object.entries(d.outputs)
        .map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(', ')}`).join('\n'), true));
      const td = document.createElement('td');
      const button = document.createElement('button');
      button.type = 'button';
      button.textContent = sim.dataset.msgShow;
      button.dataset.testid = 'show-path';
      button.addEventListener('click', () => showPath(run));
      td.appendChild(button);
      tr.appendChild(td);
      body.appendChild(tr);
      if (i === 0) showPath(run);
    });
    root.dataset.simulated = String(Number(root.dataset.simulated || 0) + 1);
    return result;
  }

  sim.querySelector('[data-testid="simulate"]').addEventListener('click', () => {
    simStatus.textContent = '';
    let cases;
    try {
      cases = JSON.parse(sim.querySelector('#sim-cases').value);
    } catch (err) {
      simStatus.textContent = err.message;
      return;
    }
    simulate(cases, sim.querySelector('#sim-drafts').checked).catch((e) => {
      simStatus.textContent = e.message;
      if (e.data && e.data.fields) show(Object.entries(e.data.fields).map(([where, message]) => ({ element: (where.match(/\[([^\]]+)\]/) || [])[1] || '', message })));
    });
  });

  root.querySelector('[data-testid="save"]').addEventListener('click', () => save().catch((e) => { status.textContent = e.message; }));
  root.querySelector('[data-testid="diff"]').addEventListener('click', () => diff().catch((e) => { status.textContent = e.message; }));
  root.querySelector('[data-testid="deploy-form"]').addEventListener('submit', (event) => {
    event.preventDefault();
    deploy(root.querySelector('#note').value).catch(() => {});
  });
  if (source.problems && source.problems.length) show(source.problems);
  window.AqdModeller = { modeler, save, diff, deploy, simulate, showPath, panel };
  root.dataset.ready = 'yes';
  void text;
}

document.addEventListener('DOMContentLoaded', () => {
  const root = document.querySelector('[data-modeller]');
  if (root) start(root).catch((err) => { root.dataset.ready = 'error'; root.querySelector('[data-testid="modeller-status"]').textContent = String(err); });
});
