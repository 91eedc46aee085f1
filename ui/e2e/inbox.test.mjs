// The review inbox in a real browser against a real server and the real command layer: one card
// per contested field group with its held versions stacked inside, a possible duplicate's two
// jobs as they are now with a confirmation before voiding, and axe-core clean on the inbox.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { stop, shot, device, update, officeSession } from "./harness.mjs";

const require = createRequire(import.meta.url);
const running = [];
after(async () => {
  for (const proc of running.reverse()) await stop(proc);
});

/** Runs axe-core on the page; fails on any serious or critical violation. */
async function accessible(page, screen) {
  await page.addScriptTag({ path: require.resolve("axe-core/axe.min.js") });
  const result = await page.evaluate(async () => await window.axe.run(document, { resultTypes: ["violations"] }));
  const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  assert.deepEqual(
    bad.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).join(", ")})`),
    [],
    `accessibility problems on the ${screen}`,
  );
}

/** A browser dialog (alert, confirm, prompt) does nothing in the desktop window: none may open. */
function noBrowserDialogs(page) {
  const opened = [];
  page.on("dialog", (d) => {
    opened.push(d.message());
    d.dismiss().catch(() => undefined);
  });
  return opened;
}

/** The demo job's id and its newest status version, as a device pulls them. */
async function jobStatus(dev, summary) {
  const changes = await dev.pullAll();
  const job = changes.find((c) => c.record_type === "job" && c.op === "create" && c.values.description?.summary === summary);
  const status = changes.filter((c) => c.record_id === job.record_id && c.group === "status").at(-1);
  return { id: job.record_id, version: status?.version ?? 1 };
}

test("held versions of one status are one card, newest first, each with who, device and its own choice", async () => {
  const { server, b, page } = await officeSession(running, "sam");
  const dialogs = noBrowserDialogs(page);
  try {
    // A second version joins the demo's status conflict, from another supervisor's tablet.
    const tablet = await device(server.base, "sam", "Supervisor tablet 2");
    const job = await jobStatus(tablet, "Heating not reaching classroom 3");
    const [joined] = await tablet.push([update("job", job.id, "status", job.version, { state: "in_progress" })]);
    assert.equal(joined.status, "held", JSON.stringify(joined));

    await page.getByRole("button", { name: "Review inbox" }).click();
    const cards = page.locator("[data-testid=inbox] article[data-kind=conflict]", { hasText: "status" });
    await page.waitForFunction(
      () => [...document.querySelectorAll("[data-testid=inbox] article[data-kind=conflict]")].some((a) => a.querySelectorAll("[data-testid=held-version]").length === 2),
      null,
      { timeout: 20000 },
    );
    assert.equal(await cards.count(), 1, "one card for the one contested status");
    const card = cards.first();
    const held = card.locator("[data-testid=held-version]");
    assert.equal(await held.count(), 2);
    const newest = await held.nth(0).innerText();
    const older = await held.nth(1).innerText();
    assert.match(newest, /newest/);
    assert.match(newest, /Sam Okafor · Supervisor tablet 2/);
    assert.match(newest, /in progress/);
    assert.match(older, /Tom Baker · Tom's tablet/);
    assert.match(older, /signed off/);
    assert.match(older, /changed on both sides/, "per field, which side changed it from the base");
    const text = await card.innerText();
    assert.doesNotMatch(text, /unknown device|unknown ·/);
    assert.match(text, /Current \(as it stands now\)[\s\S]*paused/);
    // The job it is about: customer, site and technician.
    const about = await card.locator("[data-testid=card-job]").innerText();
    assert.match(about, /technician Tom Baker/);
    assert.equal(await card.getByRole("button", { name: /^Take this version/ }).count(), 2, "each held version has its own choice");
    assert.match(await card.getByRole("button", { name: /^Keep current/ }).innerText(), /for all 2/);
    await shot(page, "inbox-stacked-card");
    await accessible(page, "inbox with a stacked card");

    // Tom's sign-off is taken; Sam's version stays stacked, now against the new current.
    await held.nth(1).getByRole("button", { name: /^Take this version/ }).click();
    await page.waitForFunction(
      () => {
        const a = [...document.querySelectorAll("[data-testid=inbox] article[data-kind=conflict]")].find((x) => x.textContent.includes("status"));
        return a && a.querySelectorAll("[data-testid=held-version]").length === 1 && /Current \(as it stands now\)[\s\S]*signed off[\s\S]*Incoming/.test(a.textContent);
      },
      null,
      { timeout: 20000 },
    );
    await shot(page, "inbox-stacked-after-take");

    // The link opens the job on the board.
    await cards.first().getByRole("button", { name: /^Open J-/ }).click();
    await page.locator("[data-testid=job-detail]").waitFor();
    assert.match(await page.locator("[data-testid=job-detail]").innerText(), /Heating not reaching classroom 3/);
    assert.deepEqual(dialogs, []);
  } finally {
    await b.close();
  }
});

test("a possible duplicate shows both jobs as they are now, and voiding the new one asks first", async () => {
  const { server, b, page } = await officeSession(running, "dana");
  const dialogs = noBrowserDialogs(page);
  try {
    await page.getByRole("button", { name: "Review inbox" }).click();
    const card = page.locator("[data-testid=inbox] article[data-kind=possible_duplicate]");
    await card.waitFor();
    const sides = card.locator("[data-testid=duplicate-side]");
    const existing = await sides.nth(0).innerText();
    const fresh = await sides.nth(1).innerText();
    // The cooler job (Kai, started) and the extractor fan job (Rita, paused), as they are now.
    assert.match(existing, /^Existing J-\d{6}/);
    assert.match(existing, /in progress/);
    assert.match(existing, /Kai Lindqvist/);
    assert.match(existing, /Kai's tablet/);
    assert.match(fresh, /^New J-\d{6}/);
    assert.match(fresh, /paused/);
    assert.match(fresh, /Rita Alvarez/);
    assert.match(fresh, /Rita's phone/);
    assert.doesNotMatch(await card.innerText(), /unknown/);
    await shot(page, "inbox-duplicate-card");

    // Voiding asks first, in the app's own dialog: what happens, who is working on it, why.
    await card.getByRole("button", { name: "Void the new job…" }).click();
    const dialog = page.getByRole("dialog");
    await dialog.waitFor();
    const said = await dialog.innerText();
    assert.match(said, /becomes voided/);
    assert.match(said, /Rita Alvarez is working on it: it is paused now/);
    const confirm = dialog.getByRole("button", { name: /^Void J-/ });
    assert.equal(await confirm.isDisabled(), true, "a reason is asked for");
    await dialog.getByLabel("Reason for voiding").fill("Same call as the cooler job");
    await shot(page, "inbox-void-dialog");
    await accessible(page, "inbox with the void dialog open");

    // Rita resumes the job while the dialog is open: the void on that picture is refused.
    const phone = await device(server.base, "rita", "Rita's phone");
    const job = await jobStatus(phone, "Replace extractor fan");
    const [moved] = await phone.push([update("job", job.id, "status", job.version, { state: "in_progress" })]);
    assert.equal(moved.status, "applied", JSON.stringify(moved));
    await confirm.click();
    await dialog.locator("text=This changed since you opened it").waitFor({ timeout: 20000 });
    await page.waitForFunction(() => /in progress now/.test(document.querySelector("[role=dialog]")?.textContent ?? ""), null, { timeout: 20000 });
    assert.match(await card.locator("[data-testid=duplicate-side]").nth(1).innerText(), /in progress/);
    await shot(page, "inbox-void-refused");

    // On the picture it shows now, the void goes through.
    await dialog.getByRole("button", { name: /^Void J-/ }).click();
    await page.waitForFunction(() => !document.querySelector("[data-testid=inbox] article[data-kind=possible_duplicate]"), null, { timeout: 20000 });
    const after = await jobStatus(phone, "Replace extractor fan");
    const changes = await phone.pullAll();
    const last = changes.filter((c) => c.record_id === after.id && c.group === "status").at(-1);
    assert.equal(last.values.state, "voided");
    assert.match(last.values.reason, /Same call as the cooler job/);
    assert.deepEqual(dialogs, [], "no browser dialog opened");
  } finally {
    await b.close();
  }
});
