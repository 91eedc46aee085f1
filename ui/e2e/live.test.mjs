// The banner tells the truth and the screens are live without polling: two office apps on one
// server see each other's edits unasked; a killed server is on the banner within 5 s and
// "Synced" never shows while it is gone; an offline save reads "Saved on this device" then
// "Waiting to sync" with its next try in the person's own time (Berlin here, while the machine
// is on UTC), and the banner reaches "Synced" by itself when the server is back; offline, the
// board row and the open panel show the same state. axe-core clean on the banner's states.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { accessible, browser, demoServer, device, killDemoServer, officeApp, restartDemoServer, shot, stop } from "./harness.mjs";

const running = [];
after(async () => {
  for (const proc of running.reverse()) await stop(proc);
});

/** Runs axe-core on the page; fails on any serious or critical violation. */
/** Kills the server as a crash would; its process leaves the list `after` stops. */
async function crash(server) {
  const proc = server.proc;
  await killDemoServer(server);
  running.splice(running.indexOf(proc), 1);
}

/** A demo server and the office app signed in as `user` on it. */
async function serverAndApp(user) {
  const server = await demoServer();
  running.push(server.proc);
  const app = await officeApp(server.base, server.dir, user);
  running.push(app.proc);
  return { server, app };
}

/** A browser page on `url` for a person in Berlin whose browser speaks US English (12-hour
 * times), on a machine whose clock is UTC: a UTC "%H:%M" would read differently on both counts. */
async function berlinPage(url) {
  const b = await browser();
  const page = await b.newPage({ viewport: { width: 1400, height: 900 }, timezoneId: "Europe/Berlin", locale: "en-US" });
  await page.goto(url);
  return { b, page };
}

const banner = (page) => page.locator("[data-testid=sync-banner] .banner-text").innerText();
const row = (page, text) => page.locator("[data-testid=board] tbody tr", { hasText: text });

/** Records every text the banner shows from now on (window.__banners), so a test can say what
 * it never showed. */
async function recordBanner(page) {
  await page.evaluate(() => {
    window.__banners = [];
    const read = () => {
      const text = document.querySelector("[data-testid=sync-banner] .banner-text")?.textContent ?? "";
      if (window.__banners[window.__banners.length - 1] !== text) window.__banners.push(text);
    };
    read();
    new MutationObserver(read).observe(document.body, { subtree: true, childList: true, characterData: true });
  });
}

/** Opens a job's panel and presses its first plain status move; the state it moved to. */
async function moveStatus(page, jobText) {
  await row(page, jobText).click();
  const detail = page.locator("[data-testid=job-detail]");
  await detail.waitFor();
  const moves = detail.locator(".actions button", { hasText: "→" });
  await moves.first().waitFor();
  const labels = await moves.allInnerTexts();
  const index = labels.findIndex((l) => !/void|cancel/i.test(l));
  assert.ok(index >= 0, `no status move offered: ${labels}`);
  const target = labels[index].replace("→", "").trim();
  await moves.nth(index).click();
  return target;
}

test("two office apps on one server: an edit in one is on the other's board without a click or a timer", async () => {
  const { server, app: samApp } = await serverAndApp("sam");
  const danaApp = await officeApp(server.base, server.dir, "dana");
  running.push(danaApp.proc);
  const sam = await berlinPage(samApp.url);
  const dana = await berlinPage(danaApp.url);
  try {
    await row(dana.page, "Boiler service").waitFor();
    await row(sam.page, "Boiler service").waitFor();
    // Let both apps' first rounds settle, then count what dana's page asks of its app while
    // nothing happens: nothing (no refresh timer), only the one stream of notices it holds.
    await dana.page.waitForTimeout(3500);
    const asked = [];
    dana.page.on("request", (r) => {
      if (r.url().includes("/api/") && !r.url().endsWith("/events")) asked.push(r.url());
    });
    await dana.page.waitForTimeout(4000);
    assert.deepEqual(asked, [], "dana's page polled while nothing changed");

    const target = await moveStatus(sam.page, "Boiler service");
    const moved = Date.now();
    await dana.page.waitForFunction(
      (state) => {
        const tr = [...document.querySelectorAll("[data-testid=board] tbody tr")].find((r) => r.textContent.includes("Boiler service"));
        return tr && tr.querySelector(".pill")?.textContent === state;
      },
      target,
      { timeout: 2000 },
    );
    const took = Date.now() - moved;
    assert.ok(asked.length > 0, "dana's page read again because the app told it to");
    await shot(dana.page, "live-other-app-board");
    console.log(`sam's move to ${target} was on dana's board in ${took} ms`);
  } finally {
    await sam.b.close();
    await dana.b.close();
  }
});

test("the server stops: unreachable within 5 s, never 'Synced'; an offline save waits in local time; back, it syncs by itself", async () => {
  const { server, app } = await serverAndApp("sam");
  const { b, page } = await berlinPage(app.url);
  try {
    await page.waitForFunction(() => /^Synced/.test(document.querySelector("[data-testid=sync-banner] .banner-text")?.textContent ?? ""));
    await shot(page, "live-banner-synced");
    await accessible(page, "synced banner");
    await recordBanner(page);

    await crash(server);
    const killed = Date.now();
    await page.waitForFunction(
      () => (document.querySelector("[data-testid=sync-banner] .banner-text")?.textContent ?? "").startsWith("The server is unreachable. Working from this device's copy."),
      null,
      { timeout: 5000 },
    );
    console.log(`the banner said unreachable ${Date.now() - killed} ms after the kill`);
    await shot(page, "live-banner-unreachable");
    await accessible(page, "unreachable banner");

    // An offline save: on the device first, then waiting, with its next try in Berlin time.
    const target = await moveStatus(page, "Boiler service");
    await page.locator("[data-testid=job-detail] .notice", { hasText: "on this device at" }).waitFor({ timeout: 5000 });
    await page.locator("[data-testid=next-try]").waitFor({ timeout: 5000 });
    const text = await banner(page);
    assert.equal(text, "The server is unreachable. Working from this device's copy. Waiting to sync: 1 saved on this device.");
    const whole = await page.locator("[data-testid=sync-banner]").innerText();
    const times = whole.match(/\d{1,2}:\d{2}(\s?[AP]M)?/g) ?? [];
    assert.equal(times.length, 1, `one time on the banner, in one format: ${whole}`);
    const local = await page.evaluate(() => {
      const out = [];
      for (let m = -1; m <= 6; m++) out.push(new Date(Date.now() + m * 60000).toLocaleTimeString([], { hour: "numeric", minute: "2-digit" }).replace(/[\u202f\u00a0]/g, " "));
      return out;
    });
    assert.ok(local.includes(times[0]), `the next try ${times[0]} is Berlin's clock in the browser's 12-hour format, no leading zero (${local})`);
    assert.match(times[0], /[AP]M$/, "the browser's own (US) format, not a 24-hour UTC text");
    await shot(page, "live-banner-waiting");
    await accessible(page, "waiting banner");
    // From the moment it knew (the banner said so within 5 s), never "Synced" again until back.
    const seen = await page.evaluate(() => window.__banners.slice());
    const offline = seen.slice(seen.findIndex((t) => t.startsWith("The server is unreachable")));
    assert.ok(
      offline.every((t) => !t.startsWith("Synced")),
      `"Synced" while the server was gone: ${JSON.stringify(offline)}`,
    );
    assert.ok(
      offline.every((t) => !t.startsWith("Sync failed")),
      `an offline save is waiting, not failing: ${JSON.stringify(offline)}`,
    );

    // Back on the same port and data: the banner turns "Synced" with nobody pressing anything.
    running.push(await restartDemoServer(server));
    await page.waitForFunction(() => /^Synced/.test(document.querySelector("[data-testid=sync-banner] .banner-text")?.textContent ?? ""), null, { timeout: 20000 });
    // The board reads again with the banner: the row says its change synced too.
    await page.waitForFunction(() => {
      const tr = [...document.querySelectorAll("[data-testid=board] tbody tr")].find((r) => r.textContent.includes("Boiler service"));
      return tr && tr.querySelector(".sync")?.textContent === "Synced";
    }, null, { timeout: 2000 });
    await shot(page, "live-banner-synced-again");
    await accessible(page, "synced-again banner");

    const checker = await device(server.base, "dana", "checker");
    const changes = await checker.pullAll();
    const job = changes.find((c) => c.op === "create" && JSON.stringify(c.values).includes("Boiler service"));
    assert.ok(job, "the demo's job is on the server");
    const state = target.replace(/ /g, "_");
    assert.ok(
      changes.some((c) => c.record_id === job.record_id && c.group === "status" && c.values.state === state),
      `the offline move to ${target} is on the server`,
    );
  } finally {
    await b.close();
  }
});

test("offline, the board row and the open panel show the same state", async () => {
  const { server, app } = await serverAndApp("sam");
  const { b, page } = await berlinPage(app.url);
  try {
    await page.waitForFunction(() => /^Synced/.test(document.querySelector("[data-testid=sync-banner] .banner-text")?.textContent ?? ""));
    await crash(server);
    await page.waitForFunction(() => (document.querySelector("[data-testid=sync-banner] .banner-text")?.textContent ?? "").startsWith("The server is unreachable"), null, { timeout: 5000 });
    const target = await moveStatus(page, "Boiler service");
    const panel = page.locator("[data-testid=job-detail] h2 .pill");
    await page.waitForFunction((state) => document.querySelector("[data-testid=job-detail] h2 .pill")?.textContent === state, target, { timeout: 5000 });
    // From the moment the panel shows the move, the board row says the same (within a moment
    // for the page to read again), and keeps saying it.
    await page.waitForFunction(
      (state) => {
        const tr = [...document.querySelectorAll("[data-testid=board] tbody tr")].find((r) => r.textContent.includes("Boiler service"));
        return tr && tr.querySelector(".pill")?.textContent === state;
      },
      target,
      { timeout: 500 },
    );
    for (let i = 0; i < 5; i++) {
      assert.equal(await row(page, "Boiler service").locator(".pill").innerText(), await panel.innerText());
      await page.waitForTimeout(200);
    }
    const rowSync = await row(page, "Boiler service").innerText();
    const panelSync = await page.locator("[data-testid=job-detail] p.sync").innerText();
    assert.ok(rowSync.includes(panelSync), `row "${rowSync}" and panel "${panelSync}" agree on the sync state too`);
    await shot(page, "live-offline-row-and-panel");
  } finally {
    await b.close();
  }
});
