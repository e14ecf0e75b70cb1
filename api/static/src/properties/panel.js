// The modeller's properties panel: for the selected element, what Aqd executes (form key, due
// date and role of user tasks, messages and their payload or variable, timers, gateway
// conditions and default flows, scripts, called decisions, ids and names). Plain DOM, labelled
// fields, Arabic or French text from the page (#properties-text), right-to-left with the page;
// code-like values (ids, expressions) are typed left-to-right. Each edit is one command.
import { is, isAny } from 'bpmn-js/lib/util/ModelUtil';
import {
  editor, messageOwner, receivesMessage, spiffProperty, spiffText, timerDefinition, timerType,
  laneOf, ISO_DURATION, IDENTIFIER, XML_ID, TIMER_TYPES,
} from './model';

const TASKS_WITH_SCRIPTS = ['bpmn:UserTask', 'bpmn:ManualTask', 'bpmn:ScriptTask', 'bpmn:BusinessRuleTask',
  'bpmn:ReceiveTask', 'bpmn:SendTask', 'bpmn:SubProcess', 'bpmn:CallActivity'];
const MESSAGE_NAME = /^[A-Za-z_][A-Za-z0-9_-]*$/;

function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  Object.entries(attrs).forEach(([key, value]) => {
    if (value === undefined || value === null || value === false) return;
    if (key === 'text') node.textContent = value;
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else if (key in node && key !== 'list' && typeof value !== 'string') node[key] = value;
    else node.setAttribute(key, value === true ? '' : value);
  });
  children.flat().forEach((c) => c && node.appendChild(typeof c === 'string' ? document.createTextNode(c) : c));
  return node;
}

export function propertiesPanel(modeler, { container, text, lang, catalog }) {
  const registry = modeler.get('elementRegistry');
  const modeling = modeler.get('modeling');
  const moddle = modeler.get('moddle');
  const eventBus = modeler.get('eventBus');
  const edit = editor(modeler);
  const t = (key, values = {}) => Object.entries(values)
    .reduce((s, [k, v]) => s.replace(`{${k}}`, v), text[key] || key);
  const label = (labels) => (labels && (labels[lang] || labels.fr)) || '';
  let current = null;
  let problems = [];
  let pending = false;
  let scriptsOpen = false;

  // One labelled field: the label names the control, hint and error describe it; an invalid
  // value is shown in the field, flagged, and not written.
  function field(id, name, control, { hint, validate, commit } = {}) {
    const hintEl = hint ? h('p', { class: 'prop-hint', id: `${id}-hint`, text: hint }) : null;
    const errorEl = h('p', { class: 'prop-error', id: `${id}-error`, role: 'alert', hidden: true });
    control.id = id;
    control.setAttribute('aria-describedby', [hint ? `${id}-hint` : '', `${id}-error`].join(' ').trim());
    const box = h('div', { class: 'prop-field', 'data-field': id },
      h('label', { for: id, text: name }), control, hintEl, errorEl);
    if (commit) {
      const run = () => {
        const value = control.type === 'checkbox' ? control.checked : control.value;
        const error = validate ? validate(value) : null;
        errorEl.textContent = error || '';
        errorEl.hidden = !error;
        control.setAttribute('aria-invalid', error ? 'true' : 'false');
        box.classList.toggle('invalid', Boolean(error));
        if (error) errorEl.scrollIntoView({ block: 'nearest' });
        else commit(value);
      };
      control.addEventListener('change', run);
      if (control.tagName === 'INPUT' && control.type === 'text') {
        control.addEventListener('keydown', (e) => { if (e.key === 'Enter') { e.preventDefault(); run(); } });
      }
    }
    return box;
  }

  const input = (value, attrs = {}) => h('input', { type: 'text', value: value || '', autocomplete: 'off', spellcheck: 'false', ...attrs });
  const area = (value, attrs = {}) => {
    const node = h('textarea', { rows: 3, spellcheck: 'false', dir: 'ltr', ...attrs });
    node.value = value || '';
    return node;
  };
  function select(options, value) {
    const node = h('select');
    const known = options.some(([v]) => v === (value || ''));
    if (!known && value) options = [...options, [value, t('option.unknown', { value })]];
    options.forEach(([v, name]) => node.appendChild(h('option', { value: v, text: name })));
    node.value = value || '';
    return node;
  }
  const section = (title, ...children) => h('section', { class: 'prop-section' }, h('h3', { text: title }), ...children);
  const changed = (before, after) => (before || '') !== (after || '');

  function general(element) {
    const bo = element.businessObject;
    const fields = [field('prop-id', t('field.id'), input(bo.id, { dir: 'ltr' }), {
      validate: (v) => {
        if (!XML_ID.test(v)) return t('error.id');
        if (v !== bo.id && (registry.get(v) || moddle.ids.assigned(v))) return t('error.idTaken');
        return null;
      },
      commit: (v) => changed(bo.id, v) && modeling.updateProperties(element, { id: v }),
    })];
    if (is(bo, 'bpmn:Lane')) {
      fields.push(field('prop-lane-role', t('field.role'), select(roleOptions(), bo.name), {
        hint: t('hint.laneRole'),
        commit: (v) => changed(bo.name, v) && modeling.updateProperties(element, { name: v || undefined }),
      }));
    } else {
      fields.push(field('prop-name', t('field.name'), input(bo.name), {
        commit: (v) => changed(bo.name, v) && (element.label || is(bo, 'bpmn:FlowElement') || is(bo, 'bpmn:Participant')
          ? modeling.updateLabel(element, v || null)
          : modeling.updateProperties(element, { name: v || undefined })),
      }));
    }
    return fields;
  }

  function roleOptions() {
    return [['', t('option.none')], ...catalog.roles.map((r) => [r.id, `${label(r.label)} (${r.id})`])];
  }

  function userTask(element) {
    const bo = element.businessObject;
    const formKey = spiffProperty(bo, 'formKey');
    const dueIn = spiffProperty(bo, 'dueIn');
    const dueDays = spiffProperty(bo, 'dueInWorkingDays');
    const lane = laneOf(bo);
    const forms = [['', t('option.none')], ...catalog.forms.map((f) => [f.key, `${label(f.label)} (${f.key})`])];
    const out = [
      field('prop-form', t('field.form'), select(forms, formKey), {
        commit: (v) => changed(formKey, v) && edit.setProperty(element, 'formKey', v),
      }),
      field('prop-due', t('field.dueIn'), input(dueIn, { dir: 'ltr', placeholder: 'P3D' }), {
        hint: t('hint.dueIn'),
        validate: (v) => (v.trim() && !ISO_DURATION.test(v.trim()) ? t('error.dueIn')
          : v.trim() && dueDays ? t('error.dueBoth') : null),
        commit: (v) => changed(dueIn, v.trim()) && edit.setProperty(element, 'dueIn', v.trim()),
      }),
      field('prop-due-days', t('field.dueInWorkingDays'), input(dueDays, { dir: 'ltr', inputmode: 'numeric', placeholder: '3' }), {
        hint: t('hint.dueInWorkingDays'),
        validate: (v) => (v.trim() && !(/^\d+$/.test(v.trim()) && +v.trim() >= 1 && +v.trim() <= 90)
          ? t('error.dueInWorkingDays')
          : v.trim() && dueIn ? t('error.dueBoth') : null),
        commit: (v) => changed(dueDays, v.trim()) && edit.setProperty(element, 'dueInWorkingDays', v.trim()),
      }),
    ];
    if (lane && registry.get(lane.id)) {
      const shown = catalog.roles.find((r) => r.id === lane.name);
      const output = h('output', { text: shown ? `${label(shown.label)} (${lane.name})` : (lane.name || '') });
      out.push(field('prop-role', t('field.role'), output, { hint: t('hint.roleDrawn') }));
    } else {
      out.push(field('prop-role', t('field.role'), select(roleOptions(), lane && lane.name), {
        hint: t('hint.role'),
        validate: (v) => (v ? null : t('error.role')),
        commit: (v) => changed(lane && lane.name, v) && edit.assignLane(element, v),
      }));
    }
    return section(t('section.userTask'), ...out);
  }

  function message(element) {
    const bo = element.businessObject;
    const owner = messageOwner(bo);
    const defs = modeler.getDefinitions();
    const messages = (defs.rootElements || []).filter((e) => is(e, 'bpmn:Message'));
    const ref = owner.messageRef;
    const options = [['', t('option.none')], ...messages.map((m) => [m.id, `${m.name || m.id} (${m.id})`])];
    const out = [
      field('prop-message', t('field.message'), select(options, ref && ref.id), {
        commit: (v) => changed(ref && ref.id, v) && edit.setMessage(element, messages.find((m) => m.id === v)),
      }),
    ];
    const nameInput = input('', { dir: 'ltr' });
    const create = field('prop-new-message', t('field.newMessage'), nameInput, {
      validate: (v) => (!v || (MESSAGE_NAME.test(v) && !messages.some((m) => m.name === v)) ? null : t('error.messageName')),
    });
    create.appendChild(h('button', {
      type: 'button', id: 'prop-create-message', 'data-testid': 'create-message', text: t('button.createMessage'),
      onclick: () => {
        const v = nameInput.value.trim();
        const errorEl = create.querySelector('.prop-error');
        const bad = !MESSAGE_NAME.test(v) || messages.some((m) => m.name === v);
        errorEl.textContent = bad ? t('error.messageName') : '';
        errorEl.hidden = !bad;
        nameInput.setAttribute('aria-invalid', bad ? 'true' : 'false');
        if (!bad) edit.createMessage(element, v);
      },
    }));
    out.push(create);
    if (receivesMessage(bo)) {
      const variable = spiffText(owner, 'messageVariable');
      out.push(field('prop-variable', t('field.variable'), input(variable, { dir: 'ltr' }), {
        validate: (v) => (v.trim() && !IDENTIFIER.test(v.trim()) ? t('error.variable') : null),
        commit: (v) => changed(variable, v.trim()) && edit.setText(element, owner, 'messageVariable', v.trim()),
      }));
    } else {
      const payload = spiffText(owner, 'messagePayload');
      out.push(field('prop-payload', t('field.payload'), area(payload), {
        commit: (v) => changed(payload, v.trim()) && edit.setText(element, owner, 'messagePayload', v.trim()),
      }));
    }
    return section(t('section.message'), ...out);
  }

  function timer(element) {
    const def = timerDefinition(element.businessObject);
    const type = timerType(def);
    const expression = (def.get(type) && def.get(type).body) || '';
    const exprInput = input(expression, { dir: 'ltr' });
    const types = TIMER_TYPES.map((k) => [k, t(`timer.${k}`)]);
    return section(t('section.timer'),
      field('prop-timer-type', t('field.timerType'), select(types, type), {
        validate: (v) => (v !== type && !exprInput.value.trim() ? t('error.timer') : null),
        commit: (v) => v !== type && edit.setTimer(element, v, exprInput.value),
      }),
      field('prop-timer', t('field.timer'), exprInput, {
        hint: t('hint.timer'),
        validate: (v) => (v.trim() ? null : t('error.timer')),
        commit: (v) => changed(expression, v.trim()) && edit.setTimer(element, type, v),
      }));
  }

  function flow(element) {
    const bo = element.businessObject;
    const isDefault = element.source.businessObject.default === bo;
    const condition = (bo.conditionExpression && bo.conditionExpression.body) || '';
    const out = [field('prop-default', t('field.default'), h('input', { type: 'checkbox', checked: isDefault }), {
      commit: (v) => v !== isDefault && edit.setDefault(element, v),
    })];
    out.push(field('prop-condition', t('field.condition'), area(condition, { disabled: isDefault }), {
      hint: isDefault ? t('hint.conditionDefault') : t('hint.condition'),
      commit: (v) => changed(condition, v.trim()) && edit.setCondition(element, v),
    }));
    return section(t('section.flow'), ...out);
  }

  function scripts(element) {
    const bo = element.businessObject;
    const out = [];
    if (is(bo, 'bpmn:ScriptTask')) {
      out.push(field('prop-script', t('field.script'), area(bo.script, { rows: 6 }), {
        commit: (v) => changed(bo.script, v) && modeling.updateProperties(element, { script: v || undefined }),
      }));
    }
    const pre = spiffText(bo, 'preScript');
    const post = spiffText(bo, 'postScript');
    const details = h('details', {
      open: Boolean(pre || post) || scriptsOpen,
      ontoggle: (e) => { scriptsOpen = e.target.open; },
    }, h('summary', { id: 'prop-scripts-toggle', text: t('section.scripts') }),
      field('prop-prescript', t('field.preScript'), area(pre), {
        commit: (v) => changed(pre, v.trim()) && edit.setText(element, bo, 'preScript', v.trim()),
      }),
      field('prop-postscript', t('field.postScript'), area(post), {
        commit: (v) => changed(post, v.trim()) && edit.setText(element, bo, 'postScript', v.trim()),
      }));
    return section(t('section.scripts.title'), ...out, details);
  }

  function decision(element) {
    const bo = element.businessObject;
    const id = spiffText(bo, 'calledDecisionId');
    const options = [['', t('option.none')], ...catalog.decisions.map((d) => [d.id, `${d.name || d.id} (${d.id}, ${d.file})`])];
    return section(t('section.decision'), field('prop-decision', t('field.decision'), select(options, id), {
      commit: (v) => changed(id, v) && edit.setText(element, bo, 'calledDecisionId', v),
    }));
  }

  // Choosing an element from a list selects it on the canvas (and shows its diagram, for a
  // step inside a collapsed sub-process): the diagram without a pointer.
  let chooserField = null;
  function chooser(element) {
    // Built once per change of the diagram (not per selection): a file has hundreds of elements.
    if (chooserField) {
      chooserField.querySelector('select').value = element.id;
      return chooserField;
    }
    const kinds = (e) => text[`type.${e.businessObject.$type.replace(/^bpmn:/, '')}`] || e.businessObject.$type;
    // Labels and the drill-down planes of sub-processes stand for another element: left out.
    const options = registry.filter((e) => e.type !== 'label' && e.businessObject && e.businessObject.id === e.id)
      .map((e) => [e.id, `${e.businessObject.name || e.id} · ${kinds(e)} (${e.id})`]);
    chooserField = field('prop-element', t('field.element'), select(options, element.id), {
      commit: (v) => {
        const target = registry.get(v);
        if (!target || target === current) return;
        modeler.get('canvas').scrollToElement(target);
        modeler.get('selection').select(target);
      },
    });
    return chooserField;
  }

  function render() {
    pending = false;
    const selected = current && registry.get(current.id) === current ? current : null;
    const focused = document.activeElement && container.contains(document.activeElement) ? document.activeElement.id : '';
    const body = [h('h2', { id: 'properties-heading', text: t('panel.title') })];
    // Nothing selected: the diagram's process (or collaboration) itself.
    const element = selected && selected.type !== 'label' ? selected : modeler.get('canvas').getRootElement();
    if (element !== selected) body.push(h('p', { class: 'prop-hint', text: t('panel.empty') }));
    body.push(chooser(element));
    const bo = element.businessObject;
    const type = bo.$type.replace(/^bpmn:/, '');
    body.push(h('p', { class: 'prop-type' }, text[`type.${type}`] || type, ' ', h('code', { dir: 'ltr', text: element.id })));
    body.push(section(t('section.general'), ...general(element)));
    if (isAny(bo, ['bpmn:UserTask', 'bpmn:ManualTask'])) body.push(userTask(element));
    if (is(bo, 'bpmn:BusinessRuleTask')) body.push(decision(element));
    if (is(bo, 'bpmn:ServiceTask')) body.push(h('p', { class: 'prop-notice', role: 'note', text: t('notice.serviceTask') }));
    if (messageOwner(bo)) body.push(message(element));
    if (timerDefinition(bo)) body.push(timer(element));
    if (is(bo, 'bpmn:SequenceFlow') && isAny(element.source && element.source.businessObject,
      ['bpmn:ExclusiveGateway', 'bpmn:InclusiveGateway'])) body.push(flow(element));
    if (isAny(bo, TASKS_WITH_SCRIPTS)) body.push(scripts(element));
    const mine = problems.filter((p) => p.element === element.id);
    if (mine.length) {
      body.push(section(t('section.problems'), h('ul', { class: 'prop-problems', dir: 'ltr' },
        mine.map((p) => h('li', { text: p.message })))));
    }
    container.replaceChildren(...body);
    container.dataset.element = element.id;
    if (focused) {
      const again = container.querySelector(`#${CSS.escape(focused)}`);
      if (again) again.focus();
    }
  }

  // Re-render after the browser has moved the focus (a Tab that commits a field moves on to
  // the next one), then give the focus back to the control with the same id.
  function later() {
    if (pending) return;
    pending = true;
    setTimeout(render, 0);
  }

  eventBus.on('selection.changed', ({ newSelection }) => {
    current = newSelection.length === 1 ? newSelection[0] : null;
    later();
  });
  eventBus.on('commandStack.changed', () => { chooserField = null; later(); });
  eventBus.on('import.done', () => { current = null; chooserField = null; later(); });
  render();

  return {
    setProblems(list) { problems = list || []; later(); },
    render,
  };
}
