// lib.mjs — what the browser checks share: launching Debian's chromium headless through
// playwright-core, and counting checks so that the runner's last line is "N passed, N failed".
import { chromium } from "playwright-core";

let passed = 0, failed = 0;

export function check(ok, what) {
  if (ok) passed++;
  else {
    failed++;
    console.error(`FAIL: ${what}`);
  }
}

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--disable-quic"],
  });
}

export function done() {
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}
