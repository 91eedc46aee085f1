// Customers with their story and a job in people's words, in Debian's Chromium against the demo
// server and the real command layer: a customer's timeline keeps a phone number that another
// device overwrote; office staff creating a near-duplicate are shown the match first and can
// create anyway; a job's page names people by their display names and shows no internal group
// names or versions until Details is on. Screenshots at 1440x900 and 1280x720.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { accessible, device, officeSession, shot, stop, update } from "./harness.mjs";

const running = [];
after(async () => {
  for (const proc of running.reverse()) await stop(proc);
});

/** Screenshots at both sizes the office uses, then back to the first. */
async function both(page, name) {
  for (const [width, height] of [
    [1280, 720],
    [1440, 900],
  ]) {
    await page.setViewportSize({ width, height });
    await shot(page, `${name}-${width}x${height}`);
  }
}

/** Waits until the timeline's text matches `pattern`, with a deadline; returns the text. */
async function timelineHas(page, pattern, what) {
  await page
    .waitForFunction((source) => new RegExp(source).test(document.querySelector("[data-testid=timeline]")?.textContent ?? ""), pattern.source, { timeout: 20000 })
    .catch(async (e) => {
      throw new Error(`${what}: ${e.message}; the timeline: ${await page.locator("[data-testid=timeline]").innerText()}`);
    });
  return page.locator("[data-testid=timeline]").innerText();
}

test("a customer's timeline shows a phone number another device overwrote", async () => {
  const { server, b, page } = await officeSession(running, "olivia", { viewport: { width: 1440, height: 900 }, locale: "en-GB" });
  try {
    await page.getByRole("button", { name: "Customers" }).click();
    await page.getByRole("button", { name: "Northgate Bakery" }).click();
    const panel = page.locator("[data-testid=customer-detail]");
    await panel.waitFor();
    await timelineHas(page, /Olivia Chen created the customer/, "the customer's creation");

    // Olivia corrects the phone here…
    await panel.getByRole("button", { name: "Edit profile" }).click();
    await panel.getByLabel("Phone").fill("+44 20 7946 0999");
    await panel.getByRole("button", { name: "Save" }).click();
    await panel.locator("[data-testid=customer-sync] >> text=Synced").waitFor({ timeout: 20000 });

    // …and a dispatcher's desk, from the version before it, types another over it.
    const dispatch = await device(server.base, "dana", "Dispatch desk");
    const customer = (await dispatch.pullAll()).find((c) => c.record_type === "customer" && c.op === "create" && c.values.profile?.name === "Northgate Bakery");
    assert.ok(customer, "the demo has Northgate Bakery");
    const [overwrote] = await dispatch.push([update("customer", customer.record_id, "profile", 1, { phone: "+44 20 7946 0777" }, 0)]);
    assert.equal(overwrote.status, "applied", JSON.stringify(overwrote));

    // The page follows by itself: the newest phone on the card, and both older ones readable.
    await page.waitForFunction(() => (document.querySelector("[data-testid=group-profile]")?.textContent ?? "").includes("0777"), null, { timeout: 20000 });
    const timeline = await timelineHas(page, /Dana Reyes changed the phone from \+44 20 7946 0999 to \+44 20 7946 0777/, "the overwrite");
    assert.match(timeline, /Olivia Chen changed the phone from \+44 20 7946 0102 to \+44 20 7946 0999/);
    assert.match(timeline, /Dispatch desk/, "the device it came from");
    assert.doesNotMatch(await panel.innerText(), /\bv\d+\b|\bprofile ·/, "no versions or wire names before Details");

    // Its jobs and invoices are on its page.
    const jobs = await panel.locator("[data-testid=customer-jobs]").innerText();
    assert.match(jobs, /J-\d{6}\s+Oven thermostat fault\s+opened/);
    assert.match(jobs, /Fit new mixer tap\s+closed/);
    const invoices = await panel.locator("[data-testid=customer-invoices]").innerText();
    assert.match(invoices, /£216\.00/, "the draft invoice's total in pounds");
    assert.match(invoices, /£114\.60\s+paid/);
    await accessible(page, "customer page with its story");
    await both(page, "customer-story");
    // At 1280x720 each job's state pill and visit dates sit on one line (they wrapped in two).
    await page.setViewportSize({ width: 1280, height: 720 });
    const lines = await panel.locator("[data-testid=customer-jobs] tbody tr").evaluateAll((rows) =>
      rows.map((r) => {
        const pill = r.querySelector(".pill");
        const when = r.querySelector("[data-testid=customer-job-when]");
        const lineHeight = (el) => parseFloat(getComputedStyle(el).lineHeight) || parseFloat(getComputedStyle(el).fontSize) * 1.6;
        return { pill: pill.getClientRects().length, when: when.getBoundingClientRect().height <= lineHeight(when) * 1.5, text: r.textContent };
      }),
    );
    assert.ok(lines.length > 0);
    for (const l of lines) assert.ok(l.pill === 1 && l.when, JSON.stringify(l));
    await page.setViewportSize({ width: 1440, height: 900 });

    await panel.getByRole("button", { name: "Details" }).click();
    assert.match(await panel.locator("[data-testid=group-profile]").innerText(), /profile · v3/);
    assert.match(await panel.locator("[data-testid=timeline]").innerText(), /dana · profile v3/);

    // A job opens from the customer's page.
    await panel.getByRole("button", { name: /Open job J-\d+/ }).first().click();
    await page.locator("[data-testid=job-detail]").waitFor();
  } finally {
    await b.close();
  }
});

test("office staff creating a near-duplicate customer see the match first, and can create anyway", async () => {
  const { b, page } = await officeSession(running, "olivia", { viewport: { width: 1440, height: 900 }, locale: "en-GB" });
  try {
    await page.getByRole("button", { name: "Customers" }).click();
    await page.getByRole("button", { name: "New customer…" }).click();
    const dialog = page.locator("[data-testid=new-customer]");
    await dialog.waitFor();
    await dialog.getByLabel("Name", { exact: true }).fill("Northgate Bakery Ltd");
    await dialog.getByLabel("Phone").fill("call me");
    // The core's sentence next to the field, before anything is sent.
    await dialog.locator("[data-testid=problem-phone]").waitFor({ timeout: 10000 });
    assert.match(await dialog.locator("[data-testid=problem-phone]").innerText(), /does not look like a phone number/);
    await dialog.getByLabel("Phone").fill("020 7946 0102");
    await dialog.locator("[data-testid=problem-phone]").waitFor({ state: "detached", timeout: 10000 });
    await dialog.getByLabel("Site address", { exact: true }).fill("3 Northgate Street");
    await dialog.getByRole("button", { name: "Create customer" }).click();

    const matches = dialog.locator("[data-testid=customer-matches]");
    await matches.waitFor({ timeout: 10000 });
    const said = await matches.innerText();
    assert.match(said, /This looks like C-\d{6} \(Northgate Bakery, 3 Northgate St\), created .*: the same name/);
    await accessible(page, "new customer form with a possible duplicate");
    await both(page, "customer-new-match");

    await matches.getByRole("button", { name: "Create anyway" }).click();
    const panel = page.locator("[data-testid=customer-detail]", { hasText: "Northgate Bakery Ltd" });
    await panel.waitFor({ timeout: 10000 });
    await panel.locator("[data-testid=customer-sync] >> text=Synced").waitFor({ timeout: 20000 });
    await page.waitForFunction(() => [...document.querySelectorAll("[data-testid=customers] tbody tr")].filter((r) => r.textContent.includes("Northgate Bakery")).length === 2, null, {
      timeout: 20000,
    });
    assert.match(await panel.innerText(), /C-\d{6} · Northgate Bakery Ltd/, "numbered by the server");
    await timelineHas(page, /Olivia Chen created the customer/, "the new customer's creation");
  } finally {
    await b.close();
  }
});

test("a job's page names people by their display names and shows group names and versions only with Details", async () => {
  const zone = "Europe/Berlin";
  const { server, b, page } = await officeSession(running, "dana", { viewport: { width: 1440, height: 900 }, locale: "en-GB", timezoneId: zone });
  try {
    const tom = await device(server.base, "tom", "Tom's tablet");
    const job = (await tom.pullAll()).find((c) => c.record_type === "job" && c.op === "create" && c.values.description?.summary === "Heating not reaching classroom 3");
    const { window_start: start, window_end: end } = job.values.schedule;
    const hhmm = (iso) => new Intl.DateTimeFormat("en-GB", { hour: "2-digit", minute: "2-digit", timeZone: zone }).format(new Date(iso));
    await page.locator("[data-testid=board] tbody tr", { hasText: "Heating not reaching classroom 3" }).click();
    const detail = page.locator("[data-testid=job-detail]");
    await detail.waitFor();
    const timeline = await timelineHas(page, /Tom Baker added part TRV-15 ×2/, "the part line");
    assert.match(timeline, /Tom Baker started the job/);
    assert.match(timeline, /Dana Reyes created the job/);
    assert.match(timeline, /Status went to review: Tom's tablet and Sam Okafor both changed it/);
    assert.match(timeline, /Sam Okafor paused the job/);
    const text = await detail.innerText();
    assert.match(text, /Who\s+Tom Baker/);
    const window = await detail.locator("[data-testid=job-window]").innerText();
    assert.match(window, /^\w{3} \d{1,2} \w{3} \d{2}:\d{2}–\d{2}:\d{2}$/, "the window as a day and a time range");
    assert.ok(window.endsWith(`${hhmm(start)}–${hhmm(end)}`), `${window}: the window in ${zone}'s time`);
    // No user names, wire group names or versions on the main view.
    assert.doesNotMatch(text, /\b(tom|dana|sam|kai|rita)\b/, "user names");
    assert.doesNotMatch(text, /\b(schedule|description|work)\b/, "group names");
    assert.doesNotMatch(text, /\bv\d+\b/, "versions");
    await accessible(page, "job page in people's words");
    await both(page, "job-words");

    await detail.getByRole("button", { name: "Details" }).click();
    assert.match(await detail.locator("[data-testid=group-schedule]").innerText(), /schedule · v\d/);
    assert.match(await detail.locator("[data-testid=timeline]").innerText(), /tom · status v\d/);
    await accessible(page, "job page with details");
    await shot(page, "job-words-details-1440x900");
  } finally {
    await b.close();
  }
});

test("a voided job says it is final and what that means", async () => {
  const { b, page } = await officeSession(running, "dana", { viewport: { width: 1440, height: 900 }, locale: "en-GB" });
  try {
    await page.locator("[data-testid=board] tbody tr", { hasText: "Duplicate call: fan noise" }).click();
    const note = page.locator("[data-testid=final-note]");
    await note.waitFor();
    assert.match(await note.innerText(), /voided, and that is final: it stays in the records with its history \(nothing is deleted\), nobody works on it, and it cannot be reopened\. Reason: Customer cancelled\./);
    await timelineHas(page, /Dana Reyes voided the job: Customer cancelled/, "the void");
    await accessible(page, "voided job");
    await both(page, "job-voided");
  } finally {
    await b.close();
  }
});
