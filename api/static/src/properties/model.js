// Reading and writing what Aqd executes on a BPMN element: the `spiffworkflow:` extension
// elements the engine reads (engine/runtime/definitions.py, SpiffWorkflow's spiff parser), the
// timer and condition expressions, message references and lanes. Every write goes through
// bpmn-js's command stack, grouped so one edit is one undo step.
//
// The spiffworkflow namespace is deliberately NOT registered as a moddle extension: bpmn-moddle
// keeps elements of unknown namespaces as generic elements (attributes as properties, children
// in `$children`, text in `$body`) and writes them back untouched, whereas a registered
// namespace drops every element its descriptor does not know (e.g. a serviceTaskOperator from
// another tool) on import. So we read and create generic elements here.
import { is } from 'bpmn-js/lib/util/ModelUtil';
import { add as collectionAdd, remove as collectionRemove } from 'diagram-js/lib/util/Collections';

export const SPIFF_NS = 'http://spiffworkflow.org/bpmn/schema/1.0/core';
// The engine's check (definitions.py _ISO_DURATION): P3D, PT12H, P1Y2M…
export const ISO_DURATION = /^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+S)?)?$/;
const ISO_DATE = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/;
const ISO_CYCLE = /^R\d*\/.+$/;
export const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
export const XML_ID = /^[A-Za-z_][A-Za-z0-9_.-]*$/;
export const TIMER_TYPES = ['timeDuration', 'timeDate', 'timeCycle'];

export function isSpiff(node, local) {
  const ns = node && node.$descriptor && node.$descriptor.ns;
  return Boolean(ns && ns.uri === SPIFF_NS && ns.localName === local);
}

function spiffChild(owner, local) {
  const ext = owner && owner.extensionElements;
  return ((ext && ext.values) || []).find((v) => isSpiff(v, local));
}

export function spiffText(owner, local) {
  const node = spiffChild(owner, local);
  return node ? (node.$body || '') : '';
}

export function spiffProperty(bo, name) {
  const props = spiffChild(bo, 'properties');
  const prop = ((props && props.$children) || []).find((c) => isSpiff(c, 'property') && c.name === name);
  return prop ? (prop.value || '') : '';
}

// The element that carries a message reference and its payload/variable: the task itself for
// receive and send tasks, else the event's message event definition.
export function messageOwner(bo) {
  if (is(bo, 'bpmn:ReceiveTask') || is(bo, 'bpmn:SendTask')) return bo;
  return (bo.eventDefinitions || []).find((d) => is(d, 'bpmn:MessageEventDefinition'));
}

export function timerDefinition(bo) {
  return (bo.eventDefinitions || []).find((d) => is(d, 'bpmn:TimerEventDefinition'));
}

export function timerType(def) {
  return TIMER_TYPES.find((t) => def && def.get(t)) || 'timeDuration';
}

// Catch events and receive tasks store the message in a variable; throw events and send tasks
// send a payload.
export function receivesMessage(bo) {
  return is(bo, 'bpmn:ReceiveTask') || is(bo, 'bpmn:CatchEvent');
}

// A fixed ISO 8601 value typed as is (P5D) is written as the Python string the engine
// evaluates ("P5D"); anything else is an expression (params["signature_deadline"]).
export function timerExpression(type, text) {
  const value = text.trim();
  const literal = { timeDuration: ISO_DURATION, timeDate: ISO_DATE, timeCycle: ISO_CYCLE }[type];
  return literal.test(value) ? JSON.stringify(value) : value;
}

export function lanesOf(container) {
  const out = [];
  const walk = (sets) => (sets || []).forEach((set) => (set.lanes || []).forEach((lane) => {
    out.push(lane);
    if (lane.childLaneSet) walk([lane.childLaneSet]);
  }));
  walk(container && container.laneSets);
  return out;
}

// The process or sub-process whose lanes hold a flow node: the nearest one that has lanes.
export function laneContainer(bo) {
  let node = bo.$parent;
  while (node) {
    if (lanesOf(node).length) return node;
    if (is(node, 'bpmn:Process')) break;
    node = node.$parent;
  }
  return bo.$parent;
}

export function laneOf(bo) {
  let node = bo.$parent;
  while (node) {
    const lane = lanesOf(node).find((l) => (l.flowNodeRef || []).includes(bo));
    if (lane) return lane;
    if (is(node, 'bpmn:Process')) break;
    node = node.$parent;
  }
  return undefined;
}

function prefixOf(definitions) {
  const attrs = (definitions && definitions.$attrs) || {};
  const found = Object.keys(attrs).find((k) => k.startsWith('xmlns:') && attrs[k] === SPIFF_NS);
  return found ? found.slice(6) : 'spiffworkflow';
}

// Moves a flow node into the lane of a role (creating the lane, and the lane set, when the
// container has none): what the engine reads as the role that works a user task.
class AssignLaneHandler {
  constructor(bpmnFactory) { this.bpmnFactory = bpmnFactory; }

  execute(ctx) {
    const bo = ctx.element.businessObject;
    const container = laneContainer(bo);
    if (!ctx.to) {
      ctx.from = laneOf(bo);
      ctx.to = lanesOf(container).find((l) => l.name === ctx.role && !(l.childLaneSet && l.childLaneSet.lanes.length));
      if (!ctx.to) {
        let set = (container.laneSets || [])[0];
        if (!set) {
          set = this.bpmnFactory.create('bpmn:LaneSet', { lanes: [] });
          set.$parent = container;
          ctx.createdSet = set;
        }
        ctx.to = this.bpmnFactory.create('bpmn:Lane', { name: ctx.role, flowNodeRef: [] });
        ctx.to.$parent = set;
        ctx.createdLane = ctx.to;
        ctx.set = set;
      }
      ctx.container = container;
    }
    if (ctx.createdSet) collectionAdd(ctx.container.get('laneSets'), ctx.createdSet);
    if (ctx.createdLane) collectionAdd(ctx.set.get('lanes'), ctx.createdLane);
    if (ctx.from) {
      ctx.fromIndex = collectionRemove(ctx.from.get('flowNodeRef'), bo);
      collectionRemove(bo.get('lanes'), ctx.from);
    }
    collectionAdd(ctx.to.get('flowNodeRef'), bo);
    collectionAdd(bo.get('lanes'), ctx.to);
    return [ctx.element];
  }

  revert(ctx) {
    const bo = ctx.element.businessObject;
    collectionRemove(ctx.to.get('flowNodeRef'), bo);
    collectionRemove(bo.get('lanes'), ctx.to);
    if (ctx.from) {
      collectionAdd(ctx.from.get('flowNodeRef'), bo, ctx.fromIndex);
      collectionAdd(bo.get('lanes'), ctx.from);
    }
    if (ctx.createdLane) collectionRemove(ctx.set.get('lanes'), ctx.createdLane);
    if (ctx.createdSet) collectionRemove(ctx.container.get('laneSets'), ctx.createdSet);
    return [ctx.element];
  }
}
AssignLaneHandler.$inject = ['bpmnFactory'];

// Several modeling calls as one command: one undo step for one edit in the panel.
const BATCH = {
  preExecute(ctx) { ctx.run(); },
  execute() { return []; },
  revert() { return []; },
};

export function editor(modeler) {
  const modeling = modeler.get('modeling');
  const moddle = modeler.get('moddle');
  const commandStack = modeler.get('commandStack');
  const bpmnFactory = modeler.get('bpmnFactory');
  commandStack.register('aqd.properties.batch', BATCH);
  commandStack.registerHandler('aqd.lane.assign', AssignLaneHandler);

  const definitions = () => modeler.getDefinitions();
  const any = (local, props) => moddle.createAny(`${prefixOf(definitions())}:${local}`, SPIFF_NS, props);

  function batch(element, run) {
    commandStack.execute('aqd.properties.batch', { element, run });
  }

  // Put `node` among the extension elements of `owner` (creating bpmn:extensionElements).
  function addExtension(element, owner, node) {
    const ext = owner.extensionElements;
    if (ext) {
      node.$parent = ext;
      modeling.updateModdleProperties(element, ext, { values: [...(ext.values || []), node] });
    } else {
      const created = moddle.create('bpmn:ExtensionElements', { values: [node] });
      created.$parent = owner;
      node.$parent = created;
      modeling.updateModdleProperties(element, owner, { extensionElements: created });
    }
  }

  function removeExtension(element, owner, node) {
    const ext = owner.extensionElements;
    const rest = ext.values.filter((v) => v !== node);
    if (rest.length) modeling.updateModdleProperties(element, ext, { values: rest });
    else modeling.updateModdleProperties(element, owner, { extensionElements: undefined });
  }

  return {
    setText(element, owner, local, value) {
      const node = spiffChild(owner, local);
      batch(element, () => {
        if (!value) {
          if (node) removeExtension(element, owner, node);
        } else if (node) {
          modeling.updateModdleProperties(element, node, { $body: value });
        } else {
          addExtension(element, owner, any(local, { $body: value }));
        }
      });
    },

    setProperty(element, name, value) {
      const bo = element.businessObject;
      const props = spiffChild(bo, 'properties');
      const children = (props && props.$children) || [];
      const prop = children.find((c) => isSpiff(c, 'property') && c.name === name);
      batch(element, () => {
        if (!value) {
          if (!prop) return;
          const rest = children.filter((c) => c !== prop);
          if (rest.length) modeling.updateModdleProperties(element, props, { $children: rest });
          else removeExtension(element, bo, props);
        } else if (prop) {
          modeling.updateModdleProperties(element, prop, { value });
        } else if (props) {
          const created = any('property', { name, value });
          created.$parent = props;
          modeling.updateModdleProperties(element, props, { $children: [...children, created] });
        } else {
          const created = any('properties', {});
          const child = any('property', { name, value });
          child.$parent = created;
          created.$children = [child];
          addExtension(element, bo, created);
        }
      });
    },

    setMessage(element, message) {
      modeling.updateModdleProperties(element, messageOwner(element.businessObject), { messageRef: message });
    },

    createMessage(element, name) {
      const defs = definitions();
      const base = `msg_${name.replace(/[^A-Za-z0-9_]/g, '_')}`;
      let id = base;
      for (let i = 2; moddle.ids.assigned(id); i += 1) id = `${base}_${i}`;
      const message = bpmnFactory.create('bpmn:Message', { id, name });
      message.$parent = defs;
      batch(element, () => {
        modeling.updateModdleProperties(element, defs, { rootElements: [...defs.rootElements, message] });
        modeling.updateModdleProperties(element, messageOwner(element.businessObject), { messageRef: message });
      });
      return message;
    },

    setTimer(element, type, text) {
      const def = timerDefinition(element.businessObject);
      const props = { timeDuration: undefined, timeDate: undefined, timeCycle: undefined };
      if (text.trim()) {
        props[type] = moddle.create('bpmn:FormalExpression', { body: timerExpression(type, text) });
        props[type].$parent = def;
      }
      modeling.updateModdleProperties(element, def, props);
    },

    setCondition(element, text) {
      let expression;
      if (text.trim()) expression = moddle.create('bpmn:FormalExpression', { body: text.trim() });
      modeling.updateProperties(element, { conditionExpression: expression });
    },

    setDefault(element, on) {
      const gateway = element.source;
      batch(element, () => {
        if (on && element.businessObject.conditionExpression) {
          modeling.updateProperties(element, { conditionExpression: undefined });
        }
        modeling.updateProperties(gateway, { default: on ? element.businessObject : undefined });
      });
    },

    assignLane(element, role) {
      commandStack.execute('aqd.lane.assign', { element, role });
    },
  };
}
