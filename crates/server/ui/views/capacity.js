// Dataverse capacity (CAP): database, file and log, each with what it comes from.

import { api, seg } from '../api.js';
import { h, table, rules, ruleChip, number, verdict } from '../dom.js';

export async function capacityView({ tenant }) {
  const { data: c } = await api('GET', `/tenants/${seg(tenant)}/capacity`);
  const row = (label, total, used, free) => h('div', { class: 'capacity-row' },
    h('span', { class: 'bar-label' }, label),
    h('meter', { min: 0, max: Math.max(total, 1), value: used, high: total * 0.9 }),
    h('span', {}, `${number(used)} of ${number(total)} MB used, ${number(free)} MB free`));
  return h('div', {},
    h('h2', {}, 'Dataverse capacity'),
    row('Database', c.database_mb, c.used_database_mb, c.free_database_mb),
    row('File', c.file_mb, c.used_file_mb, c.free_file_mb),
    row('Log', c.log_mb, c.used_log_mb, c.free_log_mb),
    h('p', {}, 'New environments: ', verdict(c.can_create_environment, 'may be created', 'may not be created'), ' ', rules(c.rules)),
    h('h3', {}, 'Where it comes from'),
    table([
      ['Source', (s) => s.source, { sort: 'source' }],
      ['Units', (s) => s.units, { num: true, sort: 'units' }],
      ['Database MB', (s) => s.database_mb, { num: true, sort: 'database_mb' }],
      ['File MB', (s) => s.file_mb, { num: true, sort: 'file_mb' }],
      ['Log MB', (s) => s.log_mb, { num: true, sort: 'log_mb' }],
      ['Rule', (s) => ruleChip(s.rule)],
    ], c.sources || [], { id: 'capacity' }));
}
