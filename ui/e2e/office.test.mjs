// The office app in a real browser against a real server and the real command layer.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { demoServer, officeApp, browser, shot, stop, start } from "./harness.mjs";

const running = [];
after(async () => {
  for (const proc of running.reverse()) await stop(proc);
});

async function open(url) {
  const b = await browser();
  const page = await b.newPage({ viewport: { width: 1400, height: 900 } });
  await page.goto(url);
  return { b, page };
}

test("a dispatcher sees every job with its owner and opens its timeline", async () => {
  const server = await demoServer();
  running.push(server.proc);
  const app = await officeApp(server.base, server.dir, "dana");
  running.push(app.proc);
  const { b, page } = await open(app.url);
  try {
    await page.waitForSelector("[data-testid=board] tbody tr");
    const rows = await page.locator("[data-testid=board] tbody tr").count();
    assert.ok(rows >= 9, `expected the demo's jobs, saw ${rows}`);
    const tom = page.locator("[data-testid=board] tbody tr", { hasText: "Boiler service" });
    assert.match(await tom.innerText(), /Tom Baker/);
    assert.match(await tom.innerText(), /Tom's tablet/);
    await shot(page, "dispatcher-board");
    await page.fill("input[aria-label='Search jobs']", "Rita");
    await page.waitForFunction(() => document.querySelectorAll("[data-testid=board] tbody tr").length === 2);
    await page.fill("input[aria-label='Search jobs']", "");
    await page.locator("[data-testid=board] tbody tr", { hasText: "Leak under sink" }).click();
    await page.waitForSelector("[data-testid=timeline] li");
    const timeline = await page.locator("[data-testid=timeline]").innerText();
    assert.match(timeline, /reopened for a new visit/);
    assert.match(timeline, /status → closed/);
    await shot(page, "dispatcher-job-detail");
  } finally {
    await b.close();
  }
});

test("a dispatcher reassigns a job and the board shows the new owner", async () => {
  const server = await demoServer();
  running.push(server.proc);
  const app = await officeApp(server.base, server.dir, "dana");
  running.push(app.proc);
  const { b, page } = await open(app.url);
  try {
    await page.locator("[data-testid=board] tbody tr", { hasText: "Boiler service" }).click();
    await page.click("text=Reassign…");
    await page.waitForSelector("select[aria-label='New owner']");
    await page.selectOption("select[aria-label='New owner']", "rita");
    await shot(page, "dispatcher-reassign");
    await page.getByRole("button", { name: "Reassign", exact: true }).click();
    await page.waitForFunction(() => {
      const row = [...document.querySelectorAll("[data-testid=board] tbody tr")].find((r) => r.textContent.includes("Boiler service"));
      return row && row.textContent.includes("Rita Alvarez");
    });
    await page.waitForSelector("[data-testid=timeline] >> text=reassigned to rita");
    await shot(page, "dispatcher-reassigned");
  } finally {
    await b.close();
  }
});

test("a supervisor resolves a status conflict and the resolution is in the timeline", async () => {
  const server = await demoServer();
  running.push(server.proc);
  const app = await officeApp(server.base, server.dir, "sam");
  running.push(app.proc);
  const { b, page } = await open(app.url);
  try {
    await page.click("text=Review inbox");
    const card = page.locator("[data-testid=inbox] article[data-kind=conflict]");
    await card.waitFor();
    const text = await card.innerText();
    assert.match(text, /Base/);
    assert.match(text, /Current/);
    assert.match(text, /Incoming/);
    assert.match(text, /signed off/);
    assert.match(text, /paused/);
    assert.match(text, /Tom's tablet/);
    await shot(page, "supervisor-inbox");
    await card.locator("text=Take incoming").click();
    await page.waitForFunction(() => !document.querySelector("[data-testid=inbox] article[data-kind=conflict]"));
    await page.click("text=Board");
    await page.locator("[data-testid=board] tbody tr", { hasText: "Heating not reaching" }).click();
    await page.waitForSelector("[data-testid=timeline] >> text=review resolved");
    assert.match(await page.locator("[data-testid=job-detail]").innerText(), /signed off/);
    await shot(page, "supervisor-resolved");
  } finally {
    await b.close();
  }
});

test("with the server down the app keeps its board, saves on the device, and syncs when it returns", async () => {
  const port = 20000 + Math.floor(Math.random() * 20000);
  const server = await demoServer(port);
  const app = await officeApp(server.base, server.dir, "sam");
  running.push(app.proc);
  const { b, page } = await open(app.url);
  try {
    await page.waitForSelector("[data-testid=board] tbody tr");
    await stop(server.proc);
    await page.locator("[data-testid=board] tbody tr", { hasText: "Boiler service" }).click();
    await page.waitForSelector("[data-testid=job-detail] >> text=→ in progress");
    await page.click("[data-testid=job-detail] >> text=→ in progress");
    await page.waitForSelector("text=Saved on this device");
    await page.click("text=Sync now");
    await page.waitForSelector(".banner-failed >> text=unreachable");
    await shot(page, "outage-saved-on-device");
    // The server comes back on the same data and port; the app syncs by itself.
    const again = start(["serve", "--listen", `127.0.0.1:${port}`, "--data-dir", `${server.dir}/server`], /listening/, { FIELDSYNC_LOG: "info" });
    running.push(again);
    await again.found;
    await page.click("text=Sync now");
    await page.waitForSelector(".banner-ok", { timeout: 30000 });
    const row = page.locator("[data-testid=board] tbody tr", { hasText: "Boiler service" });
    await page.waitForFunction(() => {
      const r = [...document.querySelectorAll("[data-testid=board] tbody tr")].find((x) => x.textContent.includes("Boiler service"));
      return r && r.textContent.includes("in progress") && r.textContent.includes("Synced");
    });
    assert.match(await row.innerText(), /in progress/);
    await shot(page, "outage-synced");
  } finally {
    await b.close();
  }
});
