export * from './errors.js';
export * from './disconnect.js';
export * from './frames.js';
export * from './codec.js';
export * from './channel.js';
export * from './records.js';
