import { defineConfig } from "vite";

// The build goes straight into the Python package so the wheel ships it. File names are fixed
// (no content hashes) so the committed bundle is byte-stable and `.ci/run` can diff it; the
// server answers them with `Cache-Control: no-cache`.
export default defineConfig({
  base: "/",
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: {
    outDir: "../src/labeldesk/web",
    emptyOutDir: true,
    target: "es2022",
    sourcemap: false,
    modulePreload: false,
    rolldownOptions: {
      output: {
        entryFileNames: "assets/app.js",
        chunkFileNames: "assets/[name].js",
        assetFileNames: "assets/[name][extname]",
      },
    },
  },
  server: {
    // `npm run dev` talks to a labeldesk server on :8080 (same origin in production).
    proxy: { "/v2": "http://127.0.0.1:8080", "/api": "http://127.0.0.1:8080", "/files": "http://127.0.0.1:8080" },
  },
});
