// The controller runtime: informers (list + watch + indexed cache), rate-limited work queues,
// controllers with reconcile results, the manager that runs them, and Prometheus metrics.
export * from './informer.ts';
export * from './workqueue.ts';
export * from './controller.ts';
export * from './metrics.ts';
