// The office app on a shared computer (a desk), in Debian's Chromium against the real demo server
// and the real command layer: a first run asks for the server's address and checks it (a wrong
// text, a port where nothing listens, the real server), and the computer's name, which is what
// the server then calls the device; Dana saves an edit while the server is down and signs out:
// the sign-in screen names her and the count, and lists her work as waiting; Sam signs in next
// and sees none of it, and none of it reaches the server under his sign-in; Dana signs in again
// and it goes. An app started with its server given shows its settings read-only.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { accessible, demoServer, device, killDemoServer, officeApp, open, restartDemoServer, root, shot, start, stop } from "./harness.mjs";

const running = [];
after(async () => {
  for (const proc of running.reverse()) await stop(proc);
});

/** `fieldsync app` with no server given: what a freshly installed desk starts as. The harness
 * passes its own environment on, so a FIELDSYNC_SERVER there would make it a fixed one. */
async function unsetApp(dataDir) {
  delete process.env.FIELDSYNC_SERVER;
  delete process.env.FIELDSYNC_DEVICE_NAME;
  const proc = start(["app", "--data-dir", dataDir, "--ui-dir", join(root, "ui", "dist")], /Fieldsync office app: (\S+)/);
  running.push(proc);
  const [, url] = await proc.found;
  return { url, proc };
}

/** Signs in on the sign-in screen and waits for the board. */
async function signIn(page, user) {
  const form = page.locator("[data-testid=sign-in]");
  await form.getByLabel("User name").fill(user);
  await form.getByLabel("Password").fill("fieldsync-demo");
  await form.getByRole("button", { name: "Sign in" }).click();
  await page.locator("[data-testid=board] tbody tr").first().waitFor({ timeout: 20000 });
}

async function signOut(page) {
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.locator("[data-testid=sign-in]").waitFor();
}

const bannerText = (page) => page.locator("[data-testid=sync-banner] .banner-text").innerText();

/** The site typed while the server was down: a text nothing else in the demo holds. */
const SITE = "Flat 4B, side gate code 4471";
const holdsSite = (changes) => changes.some((c) => JSON.stringify(c.values ?? {}).includes("4471"));

test("a first run sets up the desk; each person's unsynced work waits for them, never sent or shown as the next person's", async () => {
  const server = await demoServer();
  running.push(server.proc);
  const appDir = mkdtempSync(join(tmpdir(), "fieldsync-desk-"));
  const app = await unsetApp(appDir);
  const { b, page } = await open(app.url);
  try {
    // The first run: nothing but the server's address and the computer's name.
    const first = page.locator("[data-testid=first-run]");
    await first.waitFor();
    assert.match(await first.innerText(), /Connect this computer to Fieldsync/);
    assert.match((await first.innerText()).toLowerCase(), /server address/);
    const address = first.getByLabel("Server address");
    assert.equal(await address.getAttribute("placeholder"), "https://sync.example.com");
    const name = first.getByLabel("Name of this computer");
    assert.match(await name.inputValue(), /\S/, "the computer's name is filled in");
    await accessible(page, "first-run screen");

    const check = first.locator("[data-testid=server-check]");
    await address.fill("not a url");
    await first.getByRole("button", { name: "Check" }).click();
    await check.waitFor();
    assert.match(await check.innerText(), /"not a url" is not a web address/);
    assert.equal(await check.getAttribute("role"), "alert");

    await address.fill("http://127.0.0.1:9");
    await first.getByRole("button", { name: "Check" }).click();
    await first.locator("[data-testid=server-check]", { hasText: "Nothing answered at http://127.0.0.1:9" }).waitFor({ timeout: 10000 });
    await shot(page, "desk-first-run-nothing-answered");

    // Continue with the silent address is refused with the check's sentence; nothing typed is lost.
    await name.fill("Front desk PC");
    await first.getByRole("button", { name: "Continue" }).click();
    await first.locator("[data-testid=server-check]", { hasText: "Nothing answered" }).waitFor({ timeout: 10000 });
    assert.equal(await address.inputValue(), "http://127.0.0.1:9");
    assert.equal(await name.inputValue(), "Front desk PC");

    await address.fill(server.base);
    await first.getByRole("button", { name: "Check" }).click();
    const good = first.locator("[data-testid=server-check][role=status]", { hasText: "is a Fieldsync server and it is up" });
    await good.waitFor({ timeout: 10000 });
    await shot(page, "desk-first-run");
    await first.getByRole("button", { name: "Continue" }).click();

    // The sign-in screen says where it signs in, and offers the settings again.
    const signin = page.locator("[data-testid=sign-in]");
    await signin.waitFor();
    assert.match(await signin.innerText(), new RegExp(`Server ${server.base.replace(/[.]/g, "\\.")}`));
    assert.match(await signin.innerText(), /Front desk PC/);
    await signin.getByRole("button", { name: "Settings" }).click();
    const settings = page.locator("[data-testid=settings]");
    await settings.waitFor();
    assert.equal(await settings.getByLabel("Server address").inputValue(), server.base);
    assert.equal(await settings.getByLabel("Name of this computer").inputValue(), "Front desk PC");
    await accessible(page, "settings screen");
    await shot(page, "desk-settings");
    await page.keyboard.press("Escape");
    await signin.waitFor();

    // Dana signs in: the server knows this computer by the name given.
    await signIn(page, "dana");
    const admin = await fetch(`${server.base}/api/v1/auth/login`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ username: "ada", password: "fieldsync-demo", device_name: "Admin laptop" }),
    }).then((r) => r.json());
    const devices = await fetch(`${server.base}/api/v1/devices`, { headers: { Authorization: `Bearer ${admin.token}` } }).then((r) => r.json());
    assert.ok(
      devices.some((d) => d.user === "dana" && d.name === "Front desk PC"),
      `dana's device is "Front desk PC": ${JSON.stringify(devices.map((d) => `${d.user}: ${d.name}`))}`,
    );
    // Signed in, the settings say a change waits for the next sign-in.
    await page.getByRole("button", { name: "Settings…" }).click();
    const dialog = page.locator("[data-testid=settings][role=dialog]");
    await dialog.waitFor();
    assert.match(await dialog.innerText(), /takes effect at the next sign-in/);
    await shot(page, "desk-settings-signed-in");
    await dialog.getByRole("button", { name: "Cancel" }).click();
    await dialog.waitFor({ state: "detached" });

    // The server stops; Dana saves an edit: it waits in her outbox on this computer.
    const gone = server.proc;
    await killDemoServer(server);
    running.splice(running.indexOf(gone), 1);
    await page.waitForFunction(
      () => (document.querySelector("[data-testid=sync-banner] .banner-text")?.textContent ?? "").startsWith("The server is unreachable"),
      null,
      { timeout: 10000 },
    );
    await page.locator("[data-testid=board] tbody tr", { hasText: "Boiler service" }).click();
    const schedule = page.locator("[data-testid=group-schedule]");
    await schedule.getByRole("button", { name: "Edit visit" }).click();
    await schedule.getByLabel("Site").fill(SITE);
    await schedule.getByRole("button", { name: "Save" }).click();
    await page.locator("[data-testid=job-detail] .notice", { hasText: "Visit saved" }).waitFor({ timeout: 10000 });
    await page
      .waitForFunction(() => /Waiting to sync: 1 saved on this device/.test(document.querySelector("[data-testid=sync-banner] .banner-text")?.textContent ?? ""), null, {
        timeout: 10000,
      })
      .catch(async (e) => {
        await shot(page, "desk-debug");
        throw new Error(`${e.message}; the banner: ${await bannerText(page)}`);
      });

    // Dana signs out: the sign-in screen says what of hers stays, and that it waits for her.
    await signOut(page);
    const left = page.locator("[data-testid=signed-out-left][role=status]");
    await left.waitFor();
    assert.equal(await left.innerText(), "1 of Dana's changes is not synced yet; it is sent when Dana signs in again on this computer.");
    const waiting = page.locator("[data-testid=waiting]");
    await waiting.waitFor();
    assert.match(await waiting.innerText(), /Waiting on this computer:\s*Dana Reyes, 1 change — sent when they sign in again/);
    assert.equal(await page.locator("[data-testid=sync-banner]").count(), 0, "no one's banner on the sign-in screen");
    await accessible(page, "sign-in screen with work waiting");
    await shot(page, "desk-sign-in-waiting");

    // The server is back on the same port and data; Sam signs in on the same computer.
    running.push(await restartDemoServer(server));
    await signIn(page, "sam");
    await page.waitForFunction(() => /^Synced/.test(document.querySelector("[data-testid=sync-banner] .banner-text")?.textContent ?? ""), null, { timeout: 20000 });
    assert.equal(await page.locator("[data-testid=signed-out-left]").count(), 0);
    await page.locator("[data-testid=board] tbody tr", { hasText: "Boiler service" }).click();
    const detail = page.locator("[data-testid=job-detail]");
    await detail.locator("[data-testid=group-schedule]").waitFor();
    // The window reads as one day and a time range, its start before its end.
    const window = await detail.locator("[data-testid=group-schedule] [data-testid=window]").innerText();
    // In the person's locale (en-US here: "Thu Dec 3 8:00 AM–12:00 PM", no leading zero).
    assert.match(window, /When\s+\w{3} .*\b\d{1,2}:\d{2} [AP]M–\d{1,2}:\d{2} [AP]M/, window);
    assert.doesNotMatch(window, /\b0\d:\d{2} [AP]M/, "a 12-hour hour has no leading zero");
    assert.doesNotMatch(await detail.innerText(), /4471/, "Sam sees none of Dana's unsynced edit");
    assert.doesNotMatch(await page.locator("main").innerText(), /4471/);
    // A round of Sam's reached the server ("Synced"), and another on demand: Dana's change
    // went with neither.
    await page.getByRole("button", { name: "Sync now" }).click();
    await page.getByRole("button", { name: "Sync now", disabled: false }).waitFor();
    await page.waitForFunction(() => /^Synced/.test(document.querySelector("[data-testid=sync-banner] .banner-text")?.textContent ?? ""), null, { timeout: 20000 });
    const checker = await device(server.base, "sam", "Checker");
    assert.equal(holdsSite(await checker.pullAll()), false, "Dana's unsynced edit is not on the server while Sam is signed in");
    assert.doesNotMatch(await bannerText(page), /saved on this device/);

    // Sam signs out with nothing left; Dana's work still waits.
    await signOut(page);
    assert.equal(await page.locator("[data-testid=signed-out-left]").count(), 0, "nothing of Sam's is left, so nothing is said");
    assert.match(await page.locator("[data-testid=waiting]").innerText(), /Dana Reyes, 1 change/);

    // Dana signs in again: her change goes, and the list of waiting work is empty.
    await signIn(page, "dana");
    await page.waitForFunction(() => /^Synced/.test(document.querySelector("[data-testid=sync-banner] .banner-text")?.textContent ?? ""), null, { timeout: 20000 });
    assert.ok(holdsSite(await checker.pullAll()), "Dana's edit is on the server after she signs in again");
    await signOut(page);
    assert.equal(await page.locator("[data-testid=waiting]").count(), 0, "nothing waits on this computer any more");
    assert.equal(await page.locator("[data-testid=signed-out-left]").count(), 0);
  } finally {
    await b.close();
  }
});

test("an app started with its server given shows its settings read-only, with why", async () => {
  const server = await demoServer();
  running.push(server.proc);
  const app = await officeApp(server.base, server.dir, "dana");
  running.push(app.proc);
  const { b, page } = await open(app.url);
  try {
    await page.locator("[data-testid=board] tbody tr").first().waitFor();
    await page.getByRole("button", { name: "Settings…" }).click();
    const settings = page.locator("[data-testid=settings]");
    await settings.waitFor();
    const text = await settings.innerText();
    assert.match(text, /This app was started with its server address given/);
    assert.match(text, new RegExp(server.base.replace(/[.]/g, "\\.")));
    assert.equal(await settings.locator("input").count(), 0, "nothing to type into");
    await accessible(page, "fixed settings");
    await shot(page, "desk-settings-fixed");
    await settings.getByRole("button", { name: "Close" }).click();
    await settings.waitFor({ state: "detached" });
  } finally {
    await b.close();
  }
});
