/**
 * Storage: the driver interface, its drivers and the `fs` helper given to tasks.
 *
 * @module
 */
export * from "./driver.ts";
export * from "./data_fs.ts";
export * from "./local.ts";
export * from "./open.ts";
