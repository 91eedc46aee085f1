// Editing from the office, reassigning away from a silent device, live updates, keyboard use and
// an accessibility check: the office app in Debian's Chromium against a real server and the real
// command layer.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { accessible, demoServer, device, officeApp, officeSession, open, shot, stop, update } from "./harness.mjs";

const running = [];
after(async () => {
  for (const proc of running.reverse()) await stop(proc);
});

/** Runs axe-core on the page; fails on any serious or critical violation. */
test("office staff edit a customer: the profile is last write wins, a colliding billing edit goes to review", async () => {
  const { server, b, page } = await officeSession(running, "olivia");
  try {
    await page.getByRole("button", { name: "Customers" }).click();
    await page.getByRole("button", { name: "Northgate Bakery" }).click();
    const panel = page.locator("[data-testid=customer-detail]");
    await panel.waitFor();
    assert.match(await panel.locator("[data-testid=group-profile]").innerText(), /last write wins/);
    assert.match(await panel.locator("[data-testid=group-billing]").innerText(), /manual review/);

    await panel.getByRole("button", { name: "Edit profile" }).click();
    await panel.getByLabel("Phone").fill("+44 20 7946 0999");
    await panel.getByRole("button", { name: "Save" }).click();
    await panel.locator("text=Profile saved").waitFor();
    await panel.locator("[data-testid=customer-sync] >> text=Synced").waitFor({ timeout: 20000 });
    assert.match(await panel.locator("[data-testid=group-profile]").innerText(), /0999/);

    await panel.getByRole("button", { name: "Edit billing" }).click();
    await panel.getByLabel("Billing email").fill("ledger@northgate.example");
    await shot(page, "office-customer-edit");
    await panel.getByRole("button", { name: "Save" }).click();
    await panel.locator("[data-testid=customer-sync] >> text=Synced").waitFor({ timeout: 20000 });

    // Elsewhere, from the version before both edits: a dispatcher's profile edit simply wins
    // (the older value stays in the log); finance's billing edit is held for review.
    const dispatch = await device(server.base, "dana", "Dispatch desk");
    const finance = await device(server.base, "fiona", "Finance desk");
    const customer = (await finance.pullAll()).find((c) => c.record_type === "customer" && c.op === "create" && c.values.profile?.name === "Northgate Bakery");
    assert.ok(customer, "the demo has Northgate Bakery");
    const [profile] = await dispatch.push([update("customer", customer.record_id, "profile", 1, { phone: "+44 20 7946 0777" }, 0)]);
    assert.equal(profile.status, "applied", JSON.stringify(profile));
    const [billing] = await finance.push([update("customer", customer.record_id, "billing", 1, { billing_email: "finance@northgate.example" }, 0)]);
    assert.equal(billing.status, "held", JSON.stringify(billing));

    // The app follows by itself: the newer phone shows, and the billing conflict is in the inbox.
    await page.waitForFunction(() => (document.querySelector("[data-testid=group-profile]")?.textContent ?? "").includes("0777"), null, { timeout: 20000 });
    await page.getByRole("button", { name: "Review inbox" }).click();
    const card = page.locator("[data-testid=inbox] article[data-kind=conflict]", { hasText: "billing" });
    await card.waitFor({ timeout: 20000 });
    const text = await card.innerText();
    assert.match(text, /ledger@northgate\.example/);
    assert.match(text, /finance@northgate\.example/);
    await shot(page, "office-billing-conflict");
    await card.getByRole("button", { name: "Keep current" }).click();
    await page.waitForFunction(() => ![...document.querySelectorAll("[data-testid=inbox] article[data-kind=conflict]")].some((a) => a.textContent.includes("billing")));
  } finally {
    await b.close();
  }
});

test("a supervisor logs labour; a technician's labour from the same version goes to review, not over it", async () => {
  const server = await demoServer();
  running.push(server.proc);
  const tom = await device(server.base, "tom", "Tom's tablet");
  const job = (await tom.pullAll()).find((c) => c.record_type === "job" && c.op === "create" && c.values.description?.summary === "Oven thermostat fault");
  assert.ok(job, "the demo has Tom's oven job");
  const app = await officeApp(server.base, server.dir, "sam");
  running.push(app.proc);
  const { b, page } = await open(app.url);
  try {
    await page.locator("[data-testid=board] tbody tr", { hasText: "Oven thermostat" }).click();
    const detail = page.locator("[data-testid=job-detail]");
    const work = detail.locator("[data-testid=group-work]");
    assert.match(await work.innerText(), /manual review/);
    await work.getByRole("button", { name: "Edit labour" }).click();
    await work.getByLabel("Labour hours").fill("2.5");
    await work.getByRole("button", { name: "Save" }).click();
    await detail.locator("text=Labour saved").waitFor();
    await page.waitForFunction(() => (document.querySelector("[data-testid=job-detail] .sync")?.textContent ?? "") === "Synced", null, { timeout: 20000 });
    assert.match(await work.innerText(), /2\.5/);
    await shot(page, "supervisor-labour");

    const [held] = await tom.push([update("job", job.record_id, "work", 1, { labour_hours: 3 })]);
    assert.equal(held.status, "held", JSON.stringify(held));
    await page.getByRole("button", { name: "Review inbox" }).click();
    const card = page.locator("[data-testid=inbox] article[data-kind=conflict]", { hasText: "labour" });
    await card.waitFor({ timeout: 20000 });
    assert.match(await card.innerText(), /2\.5/);
    assert.match(await card.innerText(), /Tom's tablet/);
  } finally {
    await b.close();
  }
});

test("reassigning a job whose owner's device went silent with unsynced work warns first; the old device learns it is no longer theirs", async () => {
  const server = await demoServer();
  running.push(server.proc);
  // Kai's tablet pulls, reporting 4 changes it could not send yet, then goes out of signal.
  const kai = await device(server.base, "kai", "Kai's tablet");
  const oldest = new Date(Date.now() - 3 * 3600 * 1000).toISOString();
  const first = await kai.pull(0, { outbox_depth: "4", oldest_pending: oldest });
  const cooler = first.changes.find((c) => c.record_type === "job" && c.op === "create" && c.values.description?.summary === "Service the walk-in cooler");
  assert.ok(cooler, "Kai's tablet holds the cooler job");

  const app = await officeApp(server.base, server.dir, "dana");
  running.push(app.proc);
  const { b, page } = await open(app.url);
  try {
    await page.locator("[data-testid=board] tbody tr", { hasText: "walk-in cooler" }).click();
    // The schedule's form has the site and the window, never the owner: that is a reassignment.
    const schedule = page.locator("[data-testid=group-schedule]");
    await schedule.getByRole("button", { name: "Edit visit" }).click();
    await schedule.getByLabel("Site").waitFor();
    assert.equal(await schedule.getByLabel("Assignee").count(), 0);
    await schedule.getByRole("button", { name: "Cancel" }).click();
    await page.getByRole("button", { name: "Reassign…" }).click();
    const warning = page.locator("[data-testid=reassign-warning]");
    await warning.waitFor();
    assert.match(await warning.innerText(), /Kai's tablet: 4 changes not yet synced/);
    await page.selectOption("select[aria-label='New owner']", "rita");
    // Nothing moves without a reason: the button waits for one.
    const reassign = page.getByRole("button", { name: "Reassign", exact: true });
    assert.equal(await reassign.isDisabled(), true, "a reassignment needs its reason");
    await page.getByLabel("Why does it move?").fill("Kai is stuck at the depot");
    await shot(page, "dispatcher-reassign-offline-owner");
    await reassign.click();
    await page.waitForFunction(() => {
      const row = [...document.querySelectorAll("[data-testid=board] tbody tr")].find((r) => r.textContent.includes("walk-in cooler"));
      return row && row.textContent.includes("Rita Alvarez");
    });
    // The reason is in the timeline, and the notice offers the way back.
    await page.locator("[data-testid=timeline] li", { hasText: "reassigned the job to Rita Alvarez: Kai is stuck at the depot" }).waitFor();
    const notice = page.locator(".detail .notice");
    assert.match(await notice.innerText(), /Reassigned from Kai .* to Rita Alvarez/);
    await shot(page, "dispatcher-reassign-undo");
    await notice.getByRole("button", { name: "Undo" }).click();
    await page.waitForFunction(() => {
      const row = [...document.querySelectorAll("[data-testid=board] tbody tr")].find((r) => r.textContent.includes("walk-in cooler"));
      return row && !row.textContent.includes("Rita Alvarez");
    });
    assert.match(await notice.innerText(), /Back with Kai/);
    await accessible(page, "job panel after an undo");
  } finally {
    await b.close();
  }
  // Back in signal, Kai's tablet hears that the job moved to Rita, and back.
  const later = await kai.pull(first.next);
  const moved = later.ownership.filter((m) => m.record_id === cooler.record_id);
  assert.deepEqual(
    moved.map((m) => m.to),
    [
      { kind: "user", name: "rita" },
      { kind: "user", name: "kai" },
    ],
    "both ownership moves reach the old owner's device",
  );
});

test("the board updates by itself when a device changes a job, and every action works from the keyboard", async () => {
  const { server, b, page } = await officeSession(running, "dana");
  try {
    await page.waitForSelector("[data-testid=board] tbody tr");
    await accessible(page, "board");
    const tom = await device(server.base, "tom", "Tom's tablet");
    const boiler = (await tom.pullAll()).filter((c) => c.record_id && c.record_type === "job").find((c) => c.op === "create" && c.values.description?.summary === "Boiler service, flat 4B");
    assert.ok(boiler);
    const [opened] = await tom.push([update("job", boiler.record_id, "status", 1, { state: "opened" })]);
    assert.equal(opened.status, "applied", JSON.stringify(opened));
    // No click, no reload: the row changes within the deadline.
    await page.waitForFunction(
      () => {
        const row = [...document.querySelectorAll("[data-testid=board] tbody tr")].find((r) => r.textContent.includes("Boiler service"));
        return row && row.textContent.includes("opened");
      },
      null,
      { timeout: 20000 },
    );

    // Keyboard only: find the job, open it, go to the inbox.
    await page.focus("input[aria-label='Search jobs']");
    await page.keyboard.type("Boiler");
    await page.waitForFunction(() => document.querySelectorAll("[data-testid=board] tbody tr").length === 1);
    await page.keyboard.press("Tab"); // status filter
    await page.keyboard.press("Tab"); // new job
    await page.keyboard.press("Tab"); // the row
    await page.keyboard.press("Enter");
    await page.waitForSelector("[data-testid=job-detail] [data-testid=timeline] li");
    await accessible(page, "job detail");
    await shot(page, "keyboard-job-detail");
    await page.keyboard.press("Escape");
    await page.waitForFunction(() => !document.querySelector("[data-testid=job-detail]"));
    await page.getByRole("button", { name: "Review inbox" }).focus();
    await page.keyboard.press("Enter");
    await page.waitForSelector("[data-testid=inbox] article");
    await accessible(page, "review inbox");
  } finally {
    await b.close();
  }
});

test("a billing form left open while finance changes the email saves what office staff saw: both go to review", async () => {
  const { server, b, page } = await officeSession(running, "olivia");
  try {
    await page.getByRole("button", { name: "Customers" }).click();
    await page.getByRole("button", { name: "Riverside Clinic" }).click();
    const panel = page.locator("[data-testid=customer-detail]");
    await panel.waitFor();
    await panel.getByRole("button", { name: "Edit billing" }).click();
    await panel.getByLabel("Billing email").waitFor();

    // While the form is open, finance changes the billing email from its own desk, and the
    // page follows it (the form stays as it was opened).
    const finance = await device(server.base, "fiona", "Finance desk");
    const customer = (await finance.pullAll()).find((c) => c.record_type === "customer" && c.op === "create" && c.values.profile?.name === "Riverside Clinic");
    assert.ok(customer, "the demo has Riverside Clinic");
    const [changed] = await finance.push([update("customer", customer.record_id, "billing", 1, { billing_email: "finance@riverside.example" }, 0)]);
    assert.equal(changed.status, "applied", JSON.stringify(changed));
    await page.waitForFunction(() => (document.querySelector("[data-testid=group-billing]")?.textContent ?? "").includes("finance@riverside.example"), null, { timeout: 20000 });
    // The open form says the group moved, which field, its value now, and what Save will do.
    const moved = panel.locator("[data-testid=form-moved]");
    await moved.waitFor();
    const told = await moved.innerText();
    assert.match(told, /Someone changed this since you opened the form\. Billing email is now “finance@riverside\.example”\./);
    assert.doesNotMatch(told, /billing_email|\(billing email\)|Now:/, "labels, as a sentence");
    assert.match(told, /both go to the review inbox/);
    await shot(page, "office-form-moved-under-it");

    await panel.getByLabel("Billing email").fill("accounts@riverside.example");
    await panel.getByRole("button", { name: "Save" }).click();
    await page.getByRole("button", { name: "Review inbox" }).click();
    const card = page.locator("[data-testid=inbox] article[data-kind=conflict]", { hasText: "accounts@riverside.example" });
    await card.waitFor({ timeout: 20000 });
    assert.match(await card.innerText(), /finance@riverside\.example/);
    await shot(page, "office-stale-billing-form-to-review");
  } finally {
    await b.close();
  }
});
