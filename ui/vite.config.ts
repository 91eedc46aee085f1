import { defineConfig } from "vite";

// No React plugin: esbuild compiles the TSX (automatic JSX runtime), which is all this UI needs.
export default defineConfig({
  esbuild: { jsx: "automatic" },
  build: { outDir: "dist", emptyOutDir: true },
});
