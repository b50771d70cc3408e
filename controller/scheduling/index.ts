// Scheduling: pure placement of GameServers on GameNodes (see scheduler.ts for the rules and for how
// the executor keeps concurrent bindings from overcommitting).
export * from './resources.ts';
export * from './ports.ts';
export * from './scheduler.ts';
