// Edit forms as a person in another time zone uses them, and the core's field rules next to the
// field: the office app in Debian's Chromium against a real server and the real command layer.
// (The forms once read and wrote UTC while the page showed local time: in Berlin a 09:00 window
// read 08:00 in its form, and "correcting" it moved the job an hour.)
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { accessible, device, officeSession, shot, stop, update } from "./harness.mjs";

const running = [];
after(async () => {
  for (const proc of running.reverse()) await stop(proc);
});

/** Runs axe-core on the page; fails on any serious or critical violation. */
/** The server's own record, read with a token of its own: what is stored, not what a screen says. */
async function serverSide(base, user) {
  const login = await fetch(`${base}/api/v1/auth/login`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username: user, password: "fieldsync-demo", device_name: `${user}'s check` }),
  }).then((r) => r.json());
  const auth = { Authorization: `Bearer ${login.token}` };
  const get = (path) => fetch(`${base}/api/v1${path}`, { headers: auth }).then((r) => r.json());
  return {
    /** The record whose first group's values match, from the pull. */
    async find(recordType, match) {
      let after = 0;
      for (;;) {
        const page = await get(`/sync/pull?after=${after}&limit=1000`);
        const hit = page.changes.find((c) => c.record_type === recordType && c.op === "create" && match(c.values));
        if (hit) return hit.record_id;
        after = page.next;
        if (!page.more) throw new Error(`no ${recordType} matched`);
      }
    },
    /** One group of a record as the server holds it: `{version, values}`. */
    async group(recordType, id, group) {
      const history = await get(`/records/${recordType}/${id}/history`);
      return history.record.groups[group];
    },
  };
}

/** An RFC 3339 instant as a datetime-local input shows it to a person in `zone`. */
function localText(iso, zone) {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat("en-CA", { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23" })
      .formatToParts(new Date(iso))
      .map((p) => [p.type, p.value]),
  );
  return `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}`;
}

/** The UTC instant of `HH:MM` local time in `zone` on the local day of `iso` (found by trying
 * the offsets a zone can have, so no table of zones is written here). */
function instantAt(iso, zone, hhmm) {
  const day = localText(iso, zone).slice(0, 10);
  for (let minutes = -14 * 60; minutes <= 14 * 60; minutes += 15) {
    const candidate = new Date(Date.parse(`${day}T${hhmm}:00Z`) - minutes * 60000);
    if (localText(candidate.toISOString(), zone) === `${day}T${hhmm}`) return candidate.getTime();
  }
  throw new Error(`no instant for ${day} ${hhmm} in ${zone}`);
}

/** Polls `read` until `done(value)` holds, with a deadline; returns the value. */
async function until(read, done, what, ms = 20000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function openJob(page, summary) {
  await page.locator("[data-testid=board] tbody tr", { hasText: summary }).click();
  const panel = page.locator("[data-testid=job-detail]");
  await panel.locator("[data-testid=group-schedule]").waitFor();
  return panel;
}

const synced = (page) =>
  page.waitForFunction(() => (document.querySelector("[data-testid=job-detail] .sync")?.textContent ?? "") === "Synced", null, { timeout: 20000 });

for (const zone of ["Europe/Berlin", "America/Los_Angeles"]) {
  test(`in ${zone} a job's window reads the same in its form as on the page, and saving keeps or sets it as meant`, async () => {
    const { server, b, page } = await officeSession(running, "dana", { timezoneId: zone, locale: "en-GB" });
    try {
      const check = await serverSide(server.base, "dana");
      const job = await check.find("job", (v) => v.description?.summary?.startsWith("Boiler service"));
      const stored = await check.group("job", job, "schedule");
      const start = stored.values.window_start;
      const end = stored.values.window_end;

      const panel = await openJob(page, "Boiler service");
      const schedule = panel.locator("[data-testid=group-schedule]");
      // The page shows the window in local time…
      const shown = await schedule.innerText();
      const clock = localText(start, zone).slice(11);
      assert.match(shown, new RegExp(clock), `the page shows ${clock} for ${start} in ${zone}`);

      // …and so does its form.
      await schedule.getByRole("button", { name: "Edit visit" }).click();
      const startInput = schedule.getByLabel("Window start");
      assert.equal(await startInput.inputValue(), localText(start, zone), "the form reads the time the page shows");
      assert.equal(await schedule.getByLabel("Window end").inputValue(), localText(end, zone));
      await accessible(page, `schedule form (${zone})`);
      await shot(page, `forms-schedule-${zone.replace("/", "-").toLowerCase()}`);

      // Saving with the times untouched does not move them.
      await schedule.getByLabel("Site").fill(`${(await schedule.getByLabel("Site").inputValue()).trim()} (rear door)`);
      await schedule.getByRole("button", { name: "Save" }).click();
      await panel.locator("text=Visit saved").waitFor();
      const after = await until(() => check.group("job", job, "schedule"), (g) => g.version > stored.version, "the site edit reaches the server");
      assert.equal(after.version, stored.version + 1, "one change, the site's");
      assert.match(after.values.site, /rear door/);
      assert.equal(Date.parse(after.values.window_start), Date.parse(start), "the start did not move");
      assert.equal(Date.parse(after.values.window_end), Date.parse(end), "the end did not move");

      // Setting 09:00 to 13:00 local, the next day, stores the instants that are those times where
      // the person is.
      await schedule.getByRole("button", { name: "Edit visit" }).click();
      const next = new Date(Date.parse(`${localText(start, zone).slice(0, 10)}T12:00:00Z`) + 86400000).toISOString().slice(0, 10);
      await schedule.getByLabel("Window start").fill(`${next}T09:00`);
      await schedule.getByLabel("Window end").fill(`${next}T13:00`);
      await schedule.getByRole("button", { name: "Save" }).click();
      await panel.locator("text=Visit saved").waitFor();
      const moved = await until(() => check.group("job", job, "schedule"), (g) => g.version > after.version, "the new window reaches the server");
      const nextNoon = `${next}T12:00:00Z`;
      assert.equal(Date.parse(moved.values.window_start), instantAt(nextNoon, zone, "09:00"), `09:00 in ${zone} is stored as that instant`);
      assert.equal(Date.parse(moved.values.window_end), instantAt(nextNoon, zone, "13:00"), `13:00 in ${zone} is stored as that instant`);
      // The page follows the sync and shows 09:00; the form reads it back the same.
      await schedule.locator("dd", { hasText: "09:00" }).first().waitFor({ timeout: 20000 });
      await schedule.getByRole("button", { name: "Edit visit" }).click();
      assert.equal(await schedule.getByLabel("Window start").inputValue(), `${next}T09:00`, "the form reads 09:00 again");
    } finally {
      await b.close();
    }
  });
}

/** Waits for a field's sentence and checks it is tied to its input for a screen reader. */
async function sentenceBy(form, label, field, sentence) {
  const note = form.locator(`[data-testid=problem-${field}]`);
  await note.waitFor({ timeout: 10000 });
  assert.equal((await note.innerText()).trim(), sentence);
  const input = form.getByLabel(label, { exact: true });
  assert.equal(await input.getAttribute("aria-invalid"), "true");
  assert.equal(await input.getAttribute("aria-describedby"), await note.getAttribute("id"));
}

test("a window ending before it starts shows the core's sentence next to the field and nothing is sent", async () => {
  const { server, b, page } = await officeSession(running, "dana", { timezoneId: "Europe/Berlin" });
  try {
    const check = await serverSide(server.base, "dana");
    const job = await check.find("job", (v) => v.description?.summary?.startsWith("Boiler service"));
    const before = await check.group("job", job, "schedule");
    const panel = await openJob(page, "Boiler service");
    const schedule = panel.locator("[data-testid=group-schedule]");
    await schedule.getByRole("button", { name: "Edit visit" }).click();
    const start = await schedule.getByLabel("Window start").inputValue();
    // A month before the start.
    const d = new Date(`${start}:00`);
    d.setMonth(d.getMonth() - 1);
    const pad = (n) => String(n).padStart(2, "0");
    await schedule.getByLabel("Window end").fill(`${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T12:00`);
    await sentenceBy(schedule, "Window end", "window_end", "The window must end after it starts.");
    await schedule.getByRole("button", { name: "Save" }).click();
    await schedule.locator("text=Not saved: correct the fields marked above.").waitFor();
    await accessible(page, "schedule form with a refused window");
    await shot(page, "forms-window-refused");
    // The version is for the curious: Details shows it, still the first.
    await panel.getByRole("button", { name: "Details" }).click();
    assert.match(await schedule.locator("[data-testid=group-details]").innerText(), /schedule · v1\b/, "the page still shows version 1");
    await synced(page);
    assert.deepEqual(await check.group("job", job, "schedule"), before, "nothing reached the server");
  } finally {
    await b.close();
  }
});

test("an email that is not one and a phone that is not one show the core's sentence and nothing is sent; a cleared field reads empty after save", async () => {
  const { server, b, page } = await officeSession(running, "olivia");
  try {
    const check = await serverSide(server.base, "olivia");
    const customer = await check.find("customer", (v) => v.profile?.name === "Northgate Bakery");
    const billingBefore = await check.group("customer", customer, "billing");
    const profileBefore = await check.group("customer", customer, "profile");
    await page.getByRole("button", { name: "Customers" }).click();
    await page.getByRole("button", { name: "Northgate Bakery" }).click();
    const panel = page.locator("[data-testid=customer-detail]");
    await panel.waitFor();

    const billing = panel.locator("[data-testid=group-billing]");
    await billing.getByRole("button", { name: "Edit billing" }).click();
    await billing.getByLabel("Billing email").fill("not-an-email");
    await sentenceBy(billing, "Billing email", "billing_email", "The billing email “not-an-email” does not look like an email address (like name@example.com).");
    await billing.getByRole("button", { name: "Save" }).click();
    await billing.locator("text=Not saved: correct the fields marked above.").waitFor();

    const profile = panel.locator("[data-testid=group-profile]");
    await profile.getByRole("button", { name: "Edit profile" }).click();
    await profile.getByLabel("Phone").fill("call me maybe");
    await sentenceBy(profile, "Phone", "phone", "The phone “call me maybe” does not look like a phone number: use digits, spaces and + - ( ), at least 6 digits.");
    await profile.getByRole("button", { name: "Save" }).click();
    await profile.locator("text=Not saved: correct the fields marked above.").waitFor();
    await accessible(page, "customer forms with refused values");
    await shot(page, "forms-email-phone-refused");
    await panel.locator("[data-testid=customer-sync] >> text=Synced").waitFor({ timeout: 20000 });
    assert.deepEqual(await check.group("customer", customer, "billing"), billingBefore, "the billing did not move");
    assert.deepEqual(await check.group("customer", customer, "profile"), profileBefore, "the profile did not move");

    // Correcting the phone takes the sentence away; emptying it clears it.
    await profile.getByLabel("Phone").fill("+44 20 7946 0999");
    await profile.locator("[data-testid=problem-phone]").waitFor({ state: "detached" });
    await profile.getByLabel("Phone").fill("");
    await profile.getByRole("button", { name: "Save" }).click();
    await panel.locator("text=Profile saved").waitFor();
    await panel.locator("[data-testid=customer-sync] >> text=Synced").waitFor({ timeout: 20000 });
    const cleared = await check.group("customer", customer, "profile");
    assert.equal(cleared.version, profileBefore.version + 1);
    assert.equal(cleared.values.phone, null, "the server holds no phone");
    assert.equal(cleared.values.name, "Northgate Bakery");
    // The page follows the save (its "Synced" can be the one from before it, until it reads again).
    await page.waitForFunction(() => /Phone\s*—/.test(document.querySelector("[data-testid=customer-detail] [data-testid=group-profile]")?.innerText ?? ""), null, { timeout: 20000 });
    await profile.getByRole("button", { name: "Edit profile" }).click();
    assert.equal(await profile.getByLabel("Phone").inputValue(), "", "the form reads empty");
    await shot(page, "forms-phone-cleared");
  } finally {
    await b.close();
  }
});

test("an invoice's lines read as a small table on its review card, not as JSON", async () => {
  const { server, b, page } = await officeSession(running, "fiona");
  try {
    const desk = await device(server.base, "fiona", "Second finance desk");
    const other = await device(server.base, "fiona", "Third finance desk");
    const created = (await desk.pullAll()).find((c) => c.record_type === "invoice" && c.op === "create" && c.values.totals?.subtotal === 180);
    assert.ok(created, "the demo has a draft invoice of 180");
    // Two desks correct the tax from the same version: the second is held for review.
    const [first] = await desk.push([update("invoice", created.record_id, "totals", 1, { tax: 30, total: 210 }, 0)]);
    assert.equal(first.status, "applied", JSON.stringify(first));
    const [second] = await other.push([update("invoice", created.record_id, "totals", 1, { tax: 40, total: 220 }, 0)]);
    assert.equal(second.status, "held", JSON.stringify(second));

    await page.getByRole("button", { name: "Review inbox" }).click();
    const card = page.locator("[data-testid=inbox] article", { hasText: "totals" }).first();
    await card.waitFor({ timeout: 20000 });
    const table = card.locator("[data-testid=invoice-lines]").first();
    await table.waitFor({ timeout: 20000 });
    assert.match(await table.innerText(), /Labour/);
    assert.match(await table.innerText(), /180\.00/);
    assert.doesNotMatch(await card.innerText(), /"amount"|\[\{/, "no JSON on the card");
    await accessible(page, "review inbox with invoice lines");
    await shot(page, "forms-invoice-lines");
  } finally {
    await b.close();
  }
});
