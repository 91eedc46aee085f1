// The office app in a real browser against a real server and the real command layer.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { demoServer, officeApp, open, shot, stop, start, device, update, officeSession } from "./harness.mjs";

const running = [];
after(async () => {
  for (const proc of running.reverse()) await stop(proc);
});

test("a dispatcher sees every job with its owner and opens its timeline", async () => {
  const { server, b, page } = await officeSession(running, "dana");
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
    assert.match(timeline, /reopened the job for a new visit: Customer reports the leak is back/);
    assert.match(timeline, /closed the job/);
    await shot(page, "dispatcher-job-detail");
  } finally {
    await b.close();
  }
});

test("a dispatcher reassigns a job and the board shows the new owner", async () => {
  const { server, b, page } = await officeSession(running, "dana");
  try {
    await page.locator("[data-testid=board] tbody tr", { hasText: "Boiler service" }).click();
    await page.click("text=Reassign…");
    await page.waitForSelector("select[aria-label='New owner']");
    await page.selectOption("select[aria-label='New owner']", "rita");
    await page.getByLabel("Why does it move?").fill("Rita is closer");
    await shot(page, "dispatcher-reassign");
    await page.getByRole("button", { name: "Reassign", exact: true }).click();
    await page.waitForFunction(() => {
      const row = [...document.querySelectorAll("[data-testid=board] tbody tr")].find((r) => r.textContent.includes("Boiler service"));
      return row && row.textContent.includes("Rita Alvarez");
    });
    await page.waitForSelector("[data-testid=timeline] >> text=reassigned the job to Rita Alvarez: Rita is closer");
    await shot(page, "dispatcher-reassigned");
  } finally {
    await b.close();
  }
});

test("a supervisor resolves a status conflict and the resolution is in the timeline", async () => {
  const { server, b, page } = await officeSession(running, "sam");
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
    await card.getByRole("button", { name: /^Take this version/ }).click();
    await page.waitForFunction(() => !document.querySelector("[data-testid=inbox] article[data-kind=conflict]"));
    await page.click("text=Board");
    await page.locator("[data-testid=board] tbody tr", { hasText: "Heating not reaching" }).click();
    await page.waitForSelector("[data-testid=timeline] >> text=resolved the review");
    assert.match(await page.locator("[data-testid=job-detail]").innerText(), /signed off/);
    await shot(page, "supervisor-resolved");
  } finally {
    await b.close();
  }
  // Every device converges: Tom's tablet and the dispatcher's desk pull the resolution.
  for (const [user, name] of [["tom", "Tom's tablet"], ["dana", "Dispatch desk"]]) {
    const changes = await (await device(server.base, user, name)).pullAll();
    const job = changes.find((c) => c.record_type === "job" && c.op === "create" && c.values.description?.summary === "Heating not reaching classroom 3");
    const status = changes.filter((c) => c.record_id === job.record_id && c.group === "status").at(-1);
    assert.equal(status.values.state, "signed_off", `${name} ends with the resolved status`);
  }
});

test("with the server down the app keeps its board, saves on the device, and syncs when it returns", async () => {
  const server = await demoServer();
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
    const again = start(["serve", "--listen", server.base.replace(/^http:\/\//, ""), "--data-dir", `${server.dir}/server`], /listening/, { FIELDSYNC_LOG: "info" });
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

test("finance resolves a totals conflict from the invoices page; a dispatcher may not", async () => {
  const server = await demoServer();
  running.push(server.proc);
  // Two finance devices change the draft invoice's totals from the same version.
  const desk = await device(server.base, "fiona", "Finance desk");
  const laptop = await device(server.base, "fiona", "Fiona's laptop");
  const changes = await desk.pullAll();
  const draft = changes.find((c) => c.record_type === "invoice" && c.op === "create" && c.state === "draft");
  assert.ok(draft, "the demo has a draft invoice");
  // The totals add up (the field rules refuse a total that is not the lines plus tax).
  const subtotal = draft.values.totals.subtotal;
  const [first] = await desk.push([update("invoice", draft.record_id, "totals", 1, { tax: 40, total: subtotal + 40 })]);
  assert.equal(first.status, "applied", JSON.stringify(first));
  const [second] = await laptop.push([update("invoice", draft.record_id, "totals", 1, { tax: 42, total: subtotal + 42 })]);
  assert.equal(second.status, "held", JSON.stringify(second));

  const app = await officeApp(server.base, server.dir, "fiona");
  running.push(app.proc);
  const { b, page } = await open(app.url);
  try {
    await page.click("text=Invoices");
    await page.waitForSelector("[data-testid=invoices] .under-review");
    await shot(page, "finance-invoices-under-review");
    await page.click("text=Totals under review: resolve");
    const card = page.locator("[data-testid=inbox] article[data-kind=conflict]");
    await card.waitFor();
    // The line table comes a moment after the card (it is compared by the command layer).
    await card.locator("[data-testid=totals-conflict]").waitFor();
    assert.match(await card.innerText(), /Fiona's laptop/);
    // The merged value is the group's own typed form, prefilled from current.
    await card.getByRole("button", { name: "Merge…" }).click();
    const form = card.locator("[data-testid=merge-form]");
    await form.getByLabel("Tax").fill("41");
    await form.getByLabel("Total", { exact: true }).fill(String(subtotal + 41));
    await form.getByRole("button", { name: "Save merged" }).click();
    await page.waitForFunction(() => !document.querySelector("[data-testid=inbox] article[data-kind=conflict]"));
    await page.click("text=Invoices");
    await page.waitForFunction((subtotal) => {
      const t = document.querySelector("[data-testid=invoices]")?.textContent ?? "";
      return t.includes(`${(subtotal + 41).toFixed(2)} GBP`) && !document.querySelector("[data-testid=invoices] .under-review");
    }, subtotal);
    await shot(page, "finance-invoices-resolved");
  } finally {
    await b.close();
  }

  // A dispatcher does not see the totals conflict, and the server refuses their resolution.
  const third = await laptop.push([update("invoice", draft.record_id, "totals", 1, { tax: 43, total: subtotal + 43 })]);
  assert.equal(third[0].status, "held");
  const dispatch = await officeApp(server.base, server.dir, "dana");
  running.push(dispatch.proc);
  const secret = new URL(dispatch.url).searchParams.get("s");
  const origin = new URL(dispatch.url).origin;
  const inbox = await fetch(`${origin}/api/${secret}/inbox`, { method: "POST", headers: { "Content-Type": "application/json" }, body: "null" }).then((r) => r.json());
  assert.ok(!inbox.some((i) => i.group === "totals"), "a dispatcher's inbox has no totals conflict");
  const refused = await fetch(`${origin}/api/${secret}/resolve`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ review_id: third[0].review_id, choice: "incoming", values: null }),
  });
  assert.equal(refused.status, 403);
  assert.equal((await refused.json()).code, "forbidden");
  // And the bridge refuses a caller without the per-run secret.
  const stranger = await fetch(`${origin}/api/not-the-secret/inbox`, { method: "POST", headers: { "Content-Type": "application/json" }, body: "null" });
  assert.equal(stranger.status, 403);
});

test("the sync rules page explains every field group in plain words", async () => {
  const { server, b, page } = await officeSession(running, "olivia");
  try {
    await page.click("text=Sync rules");
    await page.waitForSelector("[data-testid=rules] tbody tr");
    const rows = await page.locator("[data-testid=rules] tbody tr").count();
    assert.equal(rows, 14);
    const status = await page.locator("[data-testid=rules] tbody tr", { hasText: "both versions are kept" }).first().innerText();
    assert.match(status, /manual review/);
    await shot(page, "office-sync-rules");
  } finally {
    await b.close();
  }
});

test("a new job form left open comes back as it was after the app restarts, and goes once it is a job", async () => {
  const server = await demoServer();
  running.push(server.proc);
  let app = await officeApp(server.base, server.dir, "dana");
  running.push(app.proc);
  let { b, page } = await open(app.url);
  try {
    await page.click("text=New job");
    await page.waitForSelector("[role=dialog][aria-label='New job']");
    await page.fill("[aria-label='New job'] label:has-text('Site') input", "Pier 9, north gate");
    await page.fill("[aria-label='New job'] label:has-text('Summary') input", "Gate motor hums, does not open");
    // The draft is kept a moment after the last key, and the form says so; then the app goes
    // away without a save.
    await page.waitForSelector("[aria-label='New job'] >> text=Draft kept on this device");
  } finally {
    await b.close();
  }
  await stop(app.proc);
  app = await officeApp(server.base, server.dir, "dana");
  running.push(app.proc);
  ({ b, page } = await open(app.url));
  try {
    await page.click("text=New job");
    const site = page.locator("[aria-label='New job'] label:has-text('Site') input");
    await page.waitForFunction(
      () => document.querySelector("[aria-label='New job']")?.textContent.includes("is back"),
      null,
      { timeout: 10000 },
    );
    assert.equal(await site.inputValue(), "Pier 9, north gate");
    assert.equal(await page.locator("[aria-label='New job'] label:has-text('Summary') input").inputValue(), "Gate motor hums, does not open");
    await shot(page, "dispatcher-new-job-draft");
    await page.selectOption("[aria-label='New job'] select", { index: 1 });
    // Assigned from the technicians with their devices' health, never a typed user name.
    const assign = page.locator("[aria-label='New job'] label:has-text('Assign to') select");
    await assign.locator("option", { hasText: "Tom Baker" }).waitFor({ state: "attached" });
    const people = await assign.locator("option").allInnerTexts();
    const tom = people.find((o) => /^Tom Baker \(north\) — Tom's tablet/.test(o));
    assert.ok(tom, JSON.stringify(people));
    assert.ok(!people.some((o) => o.startsWith("Dana")), "only technicians are offered");
    await assign.selectOption({ label: tom });
    await shot(page, "dispatcher-new-job-assign");
    await page.getByRole("button", { name: "Save", exact: true }).click();
    await page.waitForSelector("[role=dialog][aria-label='New job']", { state: "detached" });
    const row = page.locator("[data-testid=board] tr", { hasText: "Gate motor hums" });
    await row.waitFor();
    assert.match(await row.innerText(), /Tom Baker/);
    await page.click("text=New job");
    await page.waitForSelector("[role=dialog][aria-label='New job']");
    await page.waitForFunction(() => {
      const input = [...document.querySelectorAll("[aria-label='New job'] label")].find((l) => l.textContent.startsWith("Site"))?.querySelector("input");
      return input && input.value === "";
    });
    assert.doesNotMatch(await page.locator("[aria-label='New job']").innerText(), /is back/);
  } finally {
    await b.close();
  }
});

test("two supervisors on one inbox: a card re-reads the group after the other resolves, and keeping current keeps what it shows", async () => {
  const server = await demoServer();
  running.push(server.proc);
  const app = await officeApp(server.base, server.dir, "sam");
  running.push(app.proc);
  // The other supervisor's desk: a device of sam's on the API, with its own token.
  const login = await fetch(`${server.base}/api/v1/auth/login`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username: "sam", password: "fieldsync-demo", device_name: "Supervisor tablet" }),
  }).then((r) => r.json());
  const auth = { Authorization: `Bearer ${login.token}`, "Content-Type": "application/json" };
  const tablet = await device(server.base, "sam", "Supervisor tablet 2");
  const changes = await tablet.pullAll();
  const job = changes.find((c) => c.record_type === "job" && c.op === "create" && c.values.description?.summary === "Heating not reaching classroom 3");
  const status = changes.filter((c) => c.record_id === job.record_id && c.group === "status").at(-1);
  // A second version joins the demo's status conflict on that job.
  const [joined] = await tablet.push([update("job", job.record_id, "status", status.version, { state: "in_progress" })]);
  assert.equal(joined.status, "held", JSON.stringify(joined));

  const { b, page } = await open(app.url);
  try {
    await page.click("text=Review inbox");
    const cards = page.locator("[data-testid=inbox] article[data-kind=conflict]");
    // One card for the one contested status, both held versions stacked in it.
    await page.waitForFunction(
      () => {
        const all = [...document.querySelectorAll("[data-testid=inbox] article[data-kind=conflict]")];
        return all.length === 1 && all[0].querySelectorAll("[data-testid=held-version]").length === 2;
      },
      null,
      { timeout: 20000 },
    );

    // The other desk settles the demo's card with a merged value: the status is "opened" now.
    const items = await fetch(`${server.base}/api/v1/review`, { headers: auth }).then((r) => r.json());
    const mine = items.filter((i) => i.record_id === job.record_id);
    const other = mine.find((i) => i.change_id !== joined.change_id);
    const resolved = await fetch(`${server.base}/api/v1/review/${other.review_id}/resolve`, {
      method: "POST",
      headers: auth,
      body: JSON.stringify({ choice: "merged", values: { state: "opened" } }),
    });
    assert.equal(resolved.status, 200, await resolved.text());

    // The card left shows the group as it stands now, and keeping current keeps that.
    await page.waitForFunction(
      () => {
        const left = [...document.querySelectorAll("[data-testid=inbox] article[data-kind=conflict]")];
        return left.length === 1 && /Current[\s\S]*opened[\s\S]*Incoming/.test(left[0].textContent);
      },
      null,
      { timeout: 20000 },
    );
    await shot(page, "supervisor-card-reread");
    await cards.first().locator("text=Keep current").click();
    await page.waitForFunction(() => !document.querySelector("[data-testid=inbox] article[data-kind=conflict]"), null, { timeout: 20000 });
    const after = await tablet.pullAll();
    const last = after.filter((c) => c.record_id === job.record_id && c.group === "status").at(-1);
    assert.equal(last.values.state, "opened", "keeping current kept what the card showed");
  } finally {
    await b.close();
  }
});

test("a supervisor reopens a signed-off job in the app's own dialog, and the reason is in the timeline", async () => {
  const { server, b, page } = await officeSession(running, "sam");
  try {
    await page.locator("[data-testid=board] tbody tr", { hasText: "Annual gas safety check" }).click();
    await page.getByRole("button", { name: "Reopen…" }).click();
    const dialog = page.locator("[role=dialog][aria-label='Reopen job']");
    await dialog.waitFor();
    assert.match(await dialog.innerText(), /earlier signature, notes and times are kept/);
    assert.equal(await dialog.getByRole("button", { name: "Reopen", exact: true }).isDisabled(), true, "a reason first");
    await dialog.getByLabel("Reason for reopening").fill("Flue reading out of range on the recheck");
    await shot(page, "supervisor-reopen-dialog");
    await dialog.getByRole("button", { name: "Reopen", exact: true }).click();
    await page.waitForSelector("[data-testid=timeline] >> text=reopened the job for a new visit: Flue reading out of range on the recheck", { timeout: 20000 });
    assert.match(await page.locator("[data-testid=job-detail] h2").innerText(), /reopened/);
  } finally {
    await b.close();
  }
});

test("voiding a job a technician has started says so first, needs a reason, and the job stays with its history", async () => {
  const { server, b, page } = await officeSession(running, "dana");
  try {
    // Tom starts the boiler job from his tablet.
    const tom = await device(server.base, "tom", "Tom's tablet");
    const boiler = (await tom.pullAll()).find((c) => c.record_type === "job" && c.op === "create" && c.values.description?.summary === "Boiler service, flat 4B");
    assert.ok(boiler);
    const [started] = await tom.push([update("job", boiler.record_id, "status", 1, { state: "in_progress" })]);
    assert.equal(started.status, "applied", JSON.stringify(started));
    await page.getByRole("button", { name: "Sync now" }).click();
    const row = page.locator("[data-testid=board] tbody tr", { hasText: "Boiler service" });
    await row.filter({ hasText: "in progress" }).waitFor({ timeout: 20000 });
    await row.click();
    await page.getByRole("button", { name: "Void…" }).click();
    const dialog = page.locator("[role=dialog][aria-label='Void job']");
    await dialog.waitFor();
    const said = await dialog.innerText();
    assert.match(said, /in progress/, "the dialog says work has started");
    assert.match(said, /Tom/, "and who is working on it");
    assert.match(said, /history is kept/);
    const confirm = dialog.getByRole("button", { name: "Void the job" });
    assert.equal(await confirm.isDisabled(), true, "a reason first");
    await dialog.getByLabel("Reason for voiding").fill("Customer cancelled by phone");
    await shot(page, "dispatcher-void-dialog");
    await confirm.click();
    await page.waitForSelector("[data-testid=timeline] >> text=voided the job: Customer cancelled by phone", { timeout: 20000 });
    assert.match(await page.locator("[data-testid=job-detail] h2").innerText(), /voided/);
    assert.equal(await page.getByRole("button", { name: "Void…" }).count(), 0, "no second void");
  } finally {
    await b.close();
  }
});

test("a job an open review is about reads 'Needs review' on its row and in its panel, with a way to its card", async () => {
  const { b, page } = await officeSession(running, "sam");
  try {
    // The demo's status conflict is on J-000003, its possible duplicate on J-000004 and J-000005.
    const row = page.locator("[data-testid=board] tbody tr[data-number='J-000003']");
    await row.getByRole("button", { name: /needs review/i }).waitFor({ timeout: 20000 });
    const calm = page.locator("[data-testid=board] tbody tr[data-number='J-000001']");
    assert.equal(await calm.getByRole("button", { name: /needs review/i }).count(), 0, "a job nobody contests does not say so");
    await row.click();
    await page.locator("[data-testid=needs-review]").waitFor();
    await shot(page, "supervisor-needs-review");
    await page.locator("[data-testid=needs-review]").getByRole("button", { name: "Go to its review card" }).click();
    await page.locator("[data-testid=inbox] article", { hasText: "J-000003" }).waitFor();
  } finally {
    await b.close();
  }
});
