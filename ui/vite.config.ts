import { defineConfig } from "vite";
import { svelte } from "@sveltejs/vite-plugin-svelte";

// The UI is only ever served by Tauri from the embedded ui/dist (no dev server):
// see src-tauri/tauri.conf.json.
export default defineConfig({
  plugins: [svelte()],
  clearScreen: false,
  build: {
    outDir: "dist",
    emptyOutDir: true,
    // WebKitGTK 2.40+ on Debian 12.
    target: "safari16",
    // Keep every asset a file: the CSP allows no data: scripts or styles.
    assetsInlineLimit: 0,
    sourcemap: false,
  },
});
