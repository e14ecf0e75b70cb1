// The contract diagram for auditors: bpmn-js (read-only, pan and zoom) with the path taken
// highlighted and the time spent on each step. Bundled by esbuild into
// api/static/vendor/viewer.js at install time (see the Makefile); no CDN.
import NavigatedViewer from 'bpmn-js/lib/NavigatedViewer';
import { layoutProcess } from 'bpmn-auto-layout';

function label(hours) {
  if (hours < 1) return `${Math.round(hours * 60)} min`;
  if (hours < 48) return `${Math.round(hours * 10) / 10} h`;
  return `${Math.round(hours / 24)} d`;
}

async function show(container, data) {
  // Process files written by hand or by code carry no diagram (DI): lay them out here.
  let xml = data.xml;
  if (!xml.includes('BPMNDiagram')) {
    xml = await layoutProcess(xml);
  }
  const viewer = new NavigatedViewer({ container });
  await viewer.importXML(xml);
  const canvas = viewer.get('canvas');
  const overlays = viewer.get('overlays');
  const registry = viewer.get('elementRegistry');
  canvas.zoom('fit-viewport');
  let marked = 0;
  for (const [id, state] of Object.entries(data.states)) {
    if (!registry.get(id)) continue; // engine-internal steps and elements inside collapsed parts
    canvas.addMarker(id, `st-${state}`);
    marked += 1;
    const hours = data.hours[id];
    if (hours !== undefined) {
      overlays.add(id, 'timing', {
        position: { bottom: -4, right: 8 },
        html: `<div class="timing">${label(hours)}</div>`,
      });
    }
  }
  registry.filter((e) => e.type === 'bpmn:SequenceFlow').forEach((flow) => {
    if (data.states[flow.source.id] === 'completed' && data.states[flow.target.id]) {
      canvas.addMarker(flow.id, 'flow-taken');
    }
  });
  container.dataset.marked = String(marked);
  container.dataset.ready = 'yes';
  return viewer;
}

async function load(container) {
  const response = await fetch(container.dataset.src, { headers: { Accept: 'application/json' } });
  if (!response.ok) {
    container.dataset.ready = 'error';
    container.textContent = container.dataset.error || 'diagram unavailable';
    return;
  }
  await show(container, await response.json());
}

window.AqdViewer = { show, load };
document.addEventListener('DOMContentLoaded', () => {
  document.querySelectorAll('[data-bpmn-viewer]').forEach((el) => {
    load(el).catch((err) => {
      el.dataset.ready = 'error';
      el.textContent = String(err);
    });
  });
});
