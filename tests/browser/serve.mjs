// serve.mjs — `duet serve` from the outside: the official OpenAI client library (npm "openai"),
// pointed at the server's base URL, lists models, completes, chats and streams; then the page
// in headless Chromium streams a completion, classifies a text and shows the words that
// decided it, draws images, and a screenshot is saved.
// usage: node serve.mjs URL SCREENSHOT.png      (URL ends with "/"; models: spam, stories260K, fashion)
import { existsSync, statSync } from "node:fs";
import OpenAI from "openai";
import { check, launch, done } from "./lib.mjs";

const [url, shot] = process.argv.slice(2);

// --- the OpenAI client, unchanged
const client = new OpenAI({ baseURL: url + "v1", apiKey: "unused", maxRetries: 0 });
const models = await client.models.list();
const ids = models.data.map((m) => m.id);
check(["spam", "stories260K", "fashion"].every((id) => ids.includes(id)), `models.list names every model (${ids})`);
const c = await client.completions.create({ model: "stories260K", prompt: "Once upon a time", max_tokens: 24, temperature: 0 });
check(c.choices[0].text.startsWith(", there was"), `completions.create continues the prompt ("${c.choices[0].text}")`);
check(c.usage.completion_tokens === 24, `usage counts the tokens (${c.usage.completion_tokens})`);
const chat = await client.chat.completions.create({ model: "stories260K", messages: [{ role: "user", content: "Tell me a story." }],
                                                    max_tokens: 16, temperature: 0.5, seed: 3 });
check(chat.choices[0].message.role === "assistant" && chat.choices[0].message.content.length > 0, "chat.completions.create answers");
let pieces = 0, text = "", finish = null;
const stream = await client.chat.completions.create({ model: "stories260K", messages: [{ role: "user", content: "Hi" }],
                                                      max_tokens: 20, temperature: 0, stream: true });
for await (const chunk of stream) {
  const d = chunk.choices[0].delta;
  if (d.content) { text += d.content; pieces++; }
  if (chunk.choices[0].finish_reason) finish = chunk.choices[0].finish_reason;
}
check(pieces > 5 && text.length > 0, `a streamed chat arrives in pieces (${pieces}: "${text}")`);
check(finish === "length", `the stream ends with a finish reason (${finish})`);
// greedy (and seeded): the server seeds unseeded sampling from the clock, and a story that began
// with a newline or ended at once would stream no text
const cs = await client.completions.create({ model: "stories260K", prompt: "The dog", max_tokens: 10, temperature: 0, seed: 1,
                                             stream: true, stop: ["\n"] });
let n = 0;
for await (const chunk of cs) n += chunk.choices[0].text.length > 0 ? 1 : 0;
check(n > 0, "a streamed completion");
try {
  await client.completions.create({ model: "nope", prompt: "x" });
  check(false, "an unknown model is refused");
} catch (e) {
  check(e.status === 404 && /no model 'nope'/.test(e.message), `an unknown model is a 404 the client reports (${e.status} ${e.message})`);
}
try {
  await client.completions.create({ model: "stories260K", prompt: "x", temperature: 7 });
  check(false, "a bad temperature is refused");
} catch (e) {
  check(e.status === 400 && /temperature/.test(e.message), `a bad temperature is a 400 (${e.status})`);
}

// --- the page
const browser = await launch();
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 820 } });
  const errors = [], failures = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("requestfailed", (r) => failures.push(r.url()));
  const res = await page.goto(url, { waitUntil: "load" });
  check(res && res.ok(), "the page loads");
  // (the waits' limits are bounds on a hang, far above what any of them takes)
  await page.waitForFunction(() => document.querySelector("#lm").options.length > 0, null, { timeout: 60000 });
  check((await page.textContent("#models")).includes("stories260K"), "the page lists the models");

  // stream a completion and watch it grow (temperature 0: the page sends no seed, and a sampled
  // story may end after a few words; the greedy one runs to the 200 tokens)
  await page.selectOption("#lm", "stories260K");
  await page.fill("#prompt", "Once upon a time");
  await page.fill("#max", "200");
  await page.fill("#temp", "0");
  await page.click("#go");
  await page.waitForFunction(() => document.querySelector("#gstats").textContent.includes("pieces"), null, { timeout: 60000 });
  const gen = await page.textContent("#gen"), stats = await page.textContent("#gstats");
  check(gen.length > 50, `the completion streams into the page (${gen.length} characters)`);
  const m = stats.match(/(\d+) pieces/);
  check(m && +m[1] > 20, `it arrived in pieces, not at once (${stats})`);

  // classify and see the deciding words
  await page.selectOption("#clf", "spam");
  await page.fill("#text", "WINNER! You have won a free prize. Call now to claim your cash");
  await page.click("#cls");
  await page.waitForSelector("#result .label", { timeout: 60000 });
  check((await page.textContent("#result .label")) === "spam", "the text is classified as spam");
  const chips = await page.$$eval("#result .chip", (all) => all.map((x) => x.textContent));
  check(chips.length >= 3, `the features that decided it are shown (${chips.join(" | ")})`);
  check((await page.$$("#result mark")).length > 0, "the deciding words are marked in the text");

  // draw images of one class
  await page.selectOption("#img", "fashion");
  await page.selectOption("#ilabel", "bag");
  await page.fill("#count", "8");
  await page.click("#drawbtn");
  await page.waitForFunction(() => document.querySelectorAll("#grid img").length === 8, null, { timeout: 60000 });
  await page.waitForFunction(() => [...document.querySelectorAll("#grid img")].every((i) => i.complete && i.naturalWidth > 0), null,
                             { timeout: 60000 });
  const sizes = await page.$$eval("#grid img", (all) => all.map((i) => `${i.naturalWidth}x${i.naturalHeight}`));
  check(sizes.every((s) => s === "28x28"), `eight 28x28 images are drawn (${sizes})`);

  check(errors.length === 0, `no script errors (${errors.join("; ")})`);
  check(failures.length === 0, `no failed requests (${failures.join(", ")})`);
  await page.screenshot({ path: shot, fullPage: true });
  check(existsSync(shot) && statSync(shot).size > 20000, "the screenshot is saved");
} finally {
  await browser.close();
}
done();
