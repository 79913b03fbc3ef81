/** The mappings file: loading, validation, and its typed shape. */
export * from './types';
export {
  clearConfigCache,
  configFile,
  loadConfig,
  parseConfig,
  readConfig,
} from './load';
export type {ConfigReading} from './load';
export {formatProblem} from './source';
export type {Problem} from './source';
export {literalImageParts} from './image_glob';
export type {LiteralImageParts} from './image_glob';
export {compileTagFilter, tagVersion} from './tag_filter';
export {PLACEHOLDERS, isPlaceholder} from './placeholders';
export type {Placeholder} from './placeholders';
