/**
 * The operators' dashboard of `tidings serve`, for an app to mount in its own node:http server:
 * `createAdmin({ password })`, its `observer` for createTidingsServer, then `handler(tidings)`.
 *
 * @module @tidings/standalone/admin
 */
export { type AppAdmin, type CreateAdminOptions, createAdmin } from './admin/create-admin.js';
