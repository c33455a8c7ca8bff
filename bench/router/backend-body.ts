/** The backend's short answer (bench/servers.ts), checked through every proxy before the load. */
export const BACKEND_BODY_TEXT = '{"ok":true,"from":"backend"}\n';
