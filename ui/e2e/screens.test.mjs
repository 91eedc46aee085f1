// The README's screenshots, taken by the browser tests so they show the app as it is: each main
// screen opened as the role that uses it, in Debian's Chromium against the real demo server and
// the office app's real command layer, at one fixed size (1280x800, the viewport only).
//
// Every run writes them to ui/e2e/screenshots/screen-*.png (ignored by git). With
// FIELDSYNC_WRITE_SCREENS=1 it also writes them to docs/screens/*.png, the committed copies the
// README shows; CI leaves that unset, so a run there never dirties the tree (the pictures change
// with the clock times on screen even when the app does not).
//
//   cd ui && FIELDSYNC_WRITE_SCREENS=1 node --test e2e/screens.test.mjs
//
// Each screen is asserted to show what it is there to show before it is taken, so a screen
// that broke fails here rather than ending up in the README.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { browser, demoServer, officeApp, root, screenshots, start, stop } from "./harness.mjs";

const docs = join(root, "docs", "screens");
const writeDocs = process.env.FIELDSYNC_WRITE_SCREENS === "1";
if (writeDocs) mkdirSync(docs, { recursive: true });
/** Committed, so kept small: a viewport-only PNG of these screens is well under this. */
const MAX_BYTES = 300 * 1024;

const running = [];
let server;
let chromium;
before(async () => {
  server = await demoServer();
  running.push(server.proc);
  chromium = await browser();
});
after(async () => {
  await chromium?.close();
  for (const proc of running.reverse()) await stopWithin(proc);
});

/** Stops a process as the harness does (SIGTERM), but kills it past a deadline, saying so: the
 * pictures are this file's subject, and a process that does not stop must not hang the run
 * (an office app that never signed in has been seen to ignore SIGTERM). */
async function stopWithin(proc, ms = 10000) {
  let timer;
  const late = new Promise((resolve) => (timer = setTimeout(() => resolve(true), ms)));
  const stopped = stop(proc);
  if (await Promise.race([stopped.then(() => false), late])) {
    console.error(`fieldsync ${proc.child.spawnargs.slice(1, 2).join(" ")} (pid ${proc.child.pid}) did not stop within ${ms} ms of SIGTERM; killed`);
    proc.child.kill("SIGKILL");
    await stopped;
  }
  clearTimeout(timer);
}

let apps = 0;
/** A page on the office app signed in as `user` (none: the sign-in screen), at the README's size. */
async function screen(user) {
  let url;
  if (user) {
    // Each screen its own app data dir: the dispatcher's apps run side by side.
    const app = await officeApp(server.base, join(server.dir, `screen-${++apps}`), user);
    running.push(app.proc);
    url = app.url;
  } else {
    const app = start(["app", "--server", server.base, "--data-dir", join(server.dir, "app-signed-out"), "--ui-dir", join(root, "ui", "dist")], /Fieldsync office app: (\S+)/);
    running.push(app);
    [, url] = await app.found;
  }
  const context = await chromium.newContext({ viewport: { width: 1280, height: 800 }, timezoneId: "Europe/London", locale: "en-GB" });
  const page = await context.newPage();
  await page.goto(url);
  return page;
}

/** The screenshot, once the fonts are in (the content itself is waited for by each test). */
async function take(page, name) {
  await page.evaluate(() => document.fonts.ready);
  const png = await page.screenshot({ path: join(screenshots, `screen-${name}.png`) });
  assert.ok(png.length < MAX_BYTES, `${name}.png is ${png.length} bytes`);
  if (writeDocs) {
    await page.screenshot({ path: join(docs, `${name}.png`) });
    assert.ok(statSync(join(docs, `${name}.png`)).size < MAX_BYTES);
  }
}

test("the board, as a dispatcher", async () => {
  const page = await screen("dana");
  const boiler = page.locator("[data-testid=board] tbody tr", { hasText: "Boiler service" });
  await boiler.waitFor();
  assert.match(await boiler.innerText(), /Tom Baker/);
  assert.ok((await page.locator("[data-testid=board] tbody tr").count()) >= 9, "the demo's jobs");
  await take(page, "board");
  await page.context().close();
});

test("the schedule board, as a dispatcher", async () => {
  const page = await screen("dana");
  await page.getByRole("button", { name: "Schedule" }).click();
  const kai = page.locator("[data-testid=schedule]").getByText("Kai's tablet", { exact: false }).first();
  await kai.waitFor();
  assert.match(await page.locator("[data-testid=schedule]").innerText(), /Unassigned/);
  await take(page, "schedule");
  await page.context().close();
});

test("a customer's page with its story, as office staff", async () => {
  const page = await screen("olivia");
  await page.getByRole("button", { name: "Customers" }).click();
  await page.getByText("Riverside Clinic").first().click();
  const panel = page.locator("[data-testid=customer-detail]");
  await panel.waitFor();
  assert.match(await panel.innerText(), /Jobs/);
  await take(page, "customer");
  await page.context().close();
});

test("a job's detail with its timeline, as a dispatcher", async () => {
  const page = await screen("dana");
  await page.locator("[data-testid=board] tbody tr", { hasText: "Leak under sink" }).click();
  await page.locator("[data-testid=timeline] li").first().waitFor();
  const detail = await page.locator("[data-testid=job-detail]").innerText();
  assert.match(detail, /Leak under sink/);
  assert.match(await page.locator("[data-testid=timeline]").innerText(), /reopened the job for a new visit/);
  await take(page, "job-detail");
  await page.context().close();
});

test("the review inbox with a status conflict, as a supervisor", async () => {
  const page = await screen("sam");
  await page.getByRole("button", { name: "Review inbox" }).click();
  const card = page.locator("[data-testid=inbox] article[data-kind=conflict]");
  await card.first().waitFor();
  const text = await card.first().innerText();
  assert.match(text, /Base/);
  assert.match(text, /Incoming/);
  assert.match(text, /signed off/);
  await take(page, "review-inbox");
  await page.context().close();
});

test("the invoices, as finance", async () => {
  const page = await screen("fiona");
  await page.getByRole("button", { name: "Invoices" }).click();
  const rows = page.locator("[data-testid=invoices] tbody tr");
  await rows.first().waitFor();
  assert.match(await page.locator("[data-testid=invoices]").innerText(), /\d+\.\d{2} GBP/);
  await take(page, "invoices");
  await page.context().close();
});

test("the weekly sync review, as a dispatcher", async () => {
  const page = await screen("dana");
  await page.getByRole("button", { name: "Sync review" }).click();
  await page.locator("[data-testid=report-events] tbody tr[data-kind]").first().waitFor();
  // The demo's own collisions: a status conflict and a possible duplicate.
  assert.ok((await page.locator("[data-testid=report-events] tr[data-kind=conflict]").count()) >= 1, "a conflict row");
  assert.ok((await page.locator("[data-testid=report-events] tr[data-kind=possible_duplicate]").count()) >= 1, "a duplicate row");
  await take(page, "sync-review");
  await page.context().close();
});

test("people and devices, as an admin", async () => {
  const page = await screen("ada");
  await page.getByRole("button", { name: "People and devices" }).click();
  const tom = page.locator("[data-testid=accounts] tr[data-user=tom]");
  await tom.waitFor();
  assert.match(await tom.innerText(), /Tom Baker/);
  await page.locator("[data-testid=devices] tbody tr").first().waitFor();
  await take(page, "people");
  await page.context().close();
});

test("the sign-in screen", async () => {
  const page = await screen(null);
  await page.getByRole("button", { name: "Sign in" }).waitFor();
  assert.match(await page.locator("body").innerText(), /Sign in to the office/);
  await page.getByLabel("User name").fill("dana");
  await take(page, "sign-in");
  await page.context().close();
});
