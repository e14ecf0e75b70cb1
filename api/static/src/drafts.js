// What the BPMN modeller and the decision-table editor share: the draft API of a programme's
// file (save as a checked draft, deploy with a change note), with the page's status line.
export function draftClient(root, modeler, show) {
  const api = root.dataset.api;
  const file = root.dataset.file;
  const csrf = root.dataset.csrf;
  const status = root.querySelector('[data-testid="modeller-status"]');

  async function call(method, path, body) {
    const response = await fetch(`${api}${path}`, {
      method,
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
      body: body ? JSON.stringify(body) : undefined,
    });
    const data = await response.json();
    if (!response.ok) throw Object.assign(new Error(data.detail || response.statusText), { data });
    return data;
  }

  async function save() {
    const { xml } = await modeler.saveXML({ format: true });
    const result = await call('PUT', '/draft', { file, xml });
    show(result.problems);
    status.textContent = result.problems.length ? root.dataset.msgProblems : root.dataset.msgSaved;
    root.dataset.saved = String(Number(root.dataset.saved || 0) + 1);
    return result;
  }

  async function deploy(note) {
    try {
      const result = await call('POST', '/deploy', { note });
      status.textContent = `${root.dataset.msgDeployed} ${result.version}`;
      root.dataset.deployed = String(result.version);
      return result;
    } catch (err) {
      status.textContent = err.message;
      if (err.data && err.data.fields) root.dataset.deployError = JSON.stringify(err.data.fields);
      throw err;
    }
  }

  return { call, save, deploy };
}
