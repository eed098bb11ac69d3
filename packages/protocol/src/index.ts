export * from './channel.js';
export * from './codec.js';
export * from './disconnect.js';
export * from './documents.js';
export * from './errors.js';
export * from './frames.js';
export * from './locks.js';
export * from './records.js';
