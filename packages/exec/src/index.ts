export * from './errors.ts';
export { findProgram } from './find-program.ts';
export { type RunToolOptions, runTool, type ToolResult } from './run-tool.ts';
