export { createConnectionManager, type ConnectionManager, type ConnectionManagerDeps } from './cm.js';
export { DEFAULT_CONFIG, type CmConfig, type DomainConfig } from './config.js';
export type { TerminalCondition, SharedError } from './bosh/conditions.js';
