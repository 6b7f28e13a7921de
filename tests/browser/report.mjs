// report.mjs — the comparison report in headless Chromium: the page loads from disk with no
// failed request and no script error, both plots decode to their drawn size, the tables hold
// every model, and a screenshot is saved.
// usage: node report.mjs REPORT_DIR SCREENSHOT.png MODEL...
import { existsSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { check, launch, done } from "./lib.mjs";

const [dir, shot, ...models] = process.argv.slice(2);
const browser = await launch();
try {
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  const failures = [], errors = [];
  page.on("requestfailed", (r) => failures.push(r.url()));
  page.on("pageerror", (e) => errors.push(String(e)));
  const res = await page.goto("file://" + resolve(dir, "index.html"), { waitUntil: "load" });
  check(res && res.ok(), "the page loads");
  check(failures.length === 0, `no failed requests (${failures.join(", ")})`);
  check(errors.length === 0, `no page errors (${errors.join("; ")})`);
  check((await page.title()).startsWith("duet compare"), "the title names the comparison");
  const imgs = await page.$$eval("img", (all) => all.map((i) => ({ src: i.getAttribute("src"), w: i.naturalWidth, h: i.naturalHeight })));
  check(imgs.length === 2, `two plots (${imgs.length})`);
  for (const i of imgs) check(i.w === 760 && i.h === 460, `${i.src} decodes to 760x460 (got ${i.w}x${i.h})`);
  const rows = await page.$$eval("#models tr td:first-child", (all) => all.map((td) => td.textContent));
  for (const m of models) check(rows.includes(m), `model ${m} in the table`);
  check(await page.$("#curves") !== null, "the learning-curve table");
  const aug = await page.$$eval("#augment tr td:first-child", (all) => all.map((td) => td.textContent));
  check(aug.includes("logreg") && aug.includes("svm"), `the synthetic-rows table lists the discriminative models (${aug})`);
  const rec = await page.textContent(".rec");
  check(rec && rec.includes("most accurate"), "the recommendation");
  await page.screenshot({ path: shot, fullPage: true });
  check(existsSync(shot) && statSync(shot).size > 10000, "the screenshot is saved");
} finally {
  await browser.close();
}
done();
