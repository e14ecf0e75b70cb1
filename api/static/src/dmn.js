// The programme manager's decision-table editor: dmn-js Modeler on the decision table view,
// saving drafts that the server checks with the deploy rules (the same endpoints as the BPMN
// modeller), problems listed next to the table and marked on their cells, a diff against the
// deployed version, and deployment with a change note. Bundled by esbuild at install time.
import DmnModeler from 'dmn-js/lib/Modeler';
import { draftClient } from './drafts';

// Engine problem messages (English, as `aqd deploy` prints them) → the page's translated label.
const KINDS = [
  ['DMN input entry does not compile', 'msgInputEntry'],
  ['DMN output entry does not compile', 'msgOutputEntry'],
  ['input expression does not compile', 'msgInputExpression'],
  ['hit policy', 'msgHitPolicy'],
  ['rule never matches', 'msgNeverMatches'],
];

async function start(root) {
  const api = root.dataset.api;
  const file = root.dataset.file;
  const csrf = root.dataset.csrf;
  const status = root.querySelector('[data-testid="modeller-status"]');
  const problemsEl = root.querySelector('[data-testid="problems"]');
  const container = root.querySelector('.dmn-canvas');
  const modeler = new DmnModeler({ container, common: { keyboard: { bindTo: window } } });
  const source = await (await fetch(`${api}/source?file=${encodeURIComponent(file)}`)).json();
  await modeler.importXML(source.xml);
  const tables = modeler.getViews().filter((v) => v.type === 'decisionTable');
  if (tables.length) await modeler.open(tables[0]);

  // Where an element id sits in the file: its decision, rule (row number) and column label.
  function locate(id) {
    for (const decision of modeler.getDefinitions().drgElement || []) {
      const table = decision.decisionLogic;
      if (!table || table.$type !== 'dmn:DecisionTable') continue;
      if (table.id === id) return { decision };
      const column = (list, i) => (list[i] && (list[i].label || list[i].name)) || '';
      for (const [i, input] of (table.input || []).entries()) {
        if (input.id === id || input.inputExpression?.id === id) return { decision, column: column(table.input, i) };
      }
      for (const [r, rule] of (table.rule || []).entries()) {
        const where = { decision, rule, row: r + 1 };
        if (rule.id === id) return where;
        const inIndex = (rule.inputEntry || []).findIndex((e) => e.id === id);
        if (inIndex >= 0) return { ...where, column: column(table.input, inIndex) };
        const outIndex = (rule.outputEntry || []).findIndex((e) => e.id === id);
        if (outIndex >= 0) return { ...where, column: column(table.output, outIndex) };
      }
    }
    return null;
  }

  function describe(p) {
    const where = p.element ? locate(p.element) : null;
    const parts = [];
    if (where && where.rule) parts.push(`${root.dataset.msgRule} ${where.row} (${where.rule.id})`);
    if (where && where.column) parts.push(`${root.dataset.msgColumn} ${where.column}`);
    if (!where && p.element) parts.push(p.element);
    const kind = KINDS.find(([prefix]) => p.message.startsWith(prefix) || p.message.includes(prefix));
    const label = kind ? root.dataset[kind[1]] : '';
    const detail = (kind ? p.message.slice(p.message.indexOf(kind[0]) + kind[0].length).replace(/^:\s*/, '') : p.message)
      .replace(/dmninputexpr/g, '?'); // the engine's name for the cell's input
    return { where: parts.join(' · '), label, detail: p.file && p.file !== file ? `${p.file}: ${detail}` : detail };
  }

  function cells() {
    return container.querySelectorAll('[data-element-id]');
  }

  function clear() {
    cells().forEach((c) => c.classList.remove('problem', 'diff-added', 'diff-changed'));
    problemsEl.replaceChildren();
  }

  function mark(id, cls) {
    container.querySelectorAll(`[data-element-id="${CSS.escape(id)}"]`).forEach((c) => c.classList.add(cls));
    container.querySelectorAll(`[data-row-id="${CSS.escape(id)}"]`).forEach((c) => c.classList.add(cls));
  }

  function show(problems) {
    clear();
    for (const p of problems) {
      const d = describe(p);
      const li = document.createElement('li');
      li.dataset.element = p.element || '';
      const where = document.createElement('strong');
      where.textContent = d.where ? `${d.where}: ` : '';
      const label = document.createElement('span');
      label.textContent = d.label ? `${d.label} ` : '';
      const detail = document.createElement('code');
      detail.dir = 'ltr';
      detail.textContent = d.detail;
      li.append(where, label, detail);
      problemsEl.appendChild(li);
      if (p.element) mark(p.element, 'problem');
    }
    root.dataset.problems = String(problems.length);
  }

  const { call, save, deploy } = draftClient(root, modeler, show);

  async function diff() {
    const d = await call('GET', `/diff?file=${encodeURIComponent(file)}`);
    clear();
    d.added.forEach((id) => mark(id, 'diff-added'));
    d.changed.forEach((id) => mark(id, 'diff-changed'));
    const list = root.querySelector('[data-testid="diff-list"]');
    list.replaceChildren();
    for (const [kind, ids] of [['+', d.added], ['~', d.changed], ['-', d.removed]]) {
      for (const id of ids) {
        const where = locate(id);
        const li = document.createElement('li');
        li.textContent = `${kind} ${id}${where && where.rule ? ` (${root.dataset.msgRule} ${where.row}${where.column ? `, ${where.column}` : ''})` : ''}`;
        list.appendChild(li);
      }
    }
    root.querySelector('[data-testid="diff-summary"]').textContent =
      `+${d.added.length} ~${d.changed.length} -${d.removed.length}`;
    root.dataset.diff = JSON.stringify(d);
    return d;
  }

  root.querySelector('[data-testid="save"]').addEventListener('click', () => save().catch((e) => { status.textContent = e.message; }));
  root.querySelector('[data-testid="diff"]').addEventListener('click', () => diff().catch((e) => { status.textContent = e.message; }));
  root.querySelector('[data-testid="deploy-form"]').addEventListener('submit', (event) => {
    event.preventDefault();
    deploy(root.querySelector('#note').value).catch(() => {});
  });
  if (source.problems && source.problems.length) show(source.problems);
  window.AqdDmn = { modeler, save, diff, deploy };
  root.dataset.ready = 'yes';
}

document.addEventListener('DOMContentLoaded', () => {
  const root = document.querySelector('[data-dmn-editor]');
  if (root) start(root).catch((err) => { root.dataset.ready = 'error'; root.querySelector('[data-testid="modeller-status"]').textContent = String(err); });
});
