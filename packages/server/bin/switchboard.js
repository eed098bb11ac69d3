#!/usr/bin/env node
// The CLI entry: the compiled code lives in dist/ (built by `npm install` / `npm run build`).
import '../dist/cli/main.js';
