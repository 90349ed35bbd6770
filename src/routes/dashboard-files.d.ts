/** The dashboard's built files (scripts/build-dashboard.mjs writes dist/dashboard/files.mjs). */
declare module "realtime-edge:dashboard" {
  const files: Record<string, { type: string; body: string } | undefined>;
  export default files;
}
