/// <reference types="vitest/config" />
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// Served by the admin service at /console/ (services/admin/src/console.rs); `npm run dev`
// proxies the API to a running admin (scripts/dev.sh) so that the console stays same-origin.
const admin = process.env.ADMIN_URL ?? "http://127.0.0.1:8080";

export default defineConfig({
  base: "/console/",
  plugins: [react()],
  build: { outDir: "dist", emptyOutDir: true, chunkSizeWarningLimit: 2000 },
  server: { proxy: { "/v1": admin, "/openapi.json": admin } },
  // Unit tests of the pure modules; the browser tests in tests/ run under node --test.
  test: { include: ["src/**/*.test.ts"] },
});
