// The review inbox in a real browser against a real server and the real command layer: one card
// per contested field group with its held versions stacked inside, a possible duplicate's two
// jobs as they are now with a confirmation before voiding, and axe-core clean on the inbox.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { accessible, demoServer, device, officeApp, officeSession, open, shot, stop, update } from "./harness.mjs";

const running = [];
after(async () => {
  for (const proc of running.reverse()) await stop(proc);
});

/** Runs axe-core on the page; fails on any serious or critical violation. */
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

    // A merged status is picked from the job's states, never typed (a typo cannot become a
    // state), and the form is never JSON.
    await cards.first().getByRole("button", { name: "Merge…" }).click();
    const merge = cards.first().locator("[data-testid=merge-form]");
    const state = merge.getByLabel("Status");
    assert.equal(await state.evaluate((el) => el.tagName), "SELECT");
    const offered = await state.locator("option").allInnerTexts();
    for (const s of ["assigned", "in progress", "paused", "signed off"]) assert.ok(offered.includes(s), `${s} in ${offered}`);
    assert.doesNotMatch(await page.locator("body").innerText(), /SyntaxError|Unexpected token/);
    await shot(page, "inbox-merge-status");
    await merge.getByRole("button", { name: "Cancel" }).click();

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
    // No change notices reach this page, so the dialog stays on the picture it opened on
    // while Rita acts (a notice on its way, held still), and the refusal is what is tested.
    await page.route("**/events", (route) => route.abort());
    await page.reload();
    await page.getByRole("button", { name: "Review inbox" }).click();
    const card = page.locator("[data-testid=inbox] article[data-kind=possible_duplicate]");
    await card.waitFor();
    // The app may still be on its first sync round: wait (with a deadline) until both jobs are
    // on this device, then read them.
    await page.waitForFunction(
      () => [...document.querySelectorAll("[data-testid=duplicate-side]")].every((s) => !s.textContent.includes("Not on this device")) && document.querySelectorAll("[data-testid=duplicate-side]").length === 2,
      null,
      { timeout: 20000 },
    );
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
    // Read again: the dialog and the card say what the job is now.
    await page.waitForFunction(() => /working on it: it is in progress now/.test(document.querySelector("[role=dialog]")?.textContent ?? ""), null, { timeout: 20000 });
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

test("a merge is a typed form of the group's fields: a value that breaks a rule gets its sentence, and nothing is sent", async () => {
  const server = await demoServer();
  running.push(server.proc);
  // Two finance devices change the draft invoice's totals from the same version.
  const desk = await device(server.base, "fiona", "Finance desk");
  const laptop = await device(server.base, "fiona", "Fiona's laptop");
  const changes = await desk.pullAll();
  const draft = changes.find((c) => c.record_type === "invoice" && c.op === "create" && c.state === "draft");
  assert.ok(draft, "the demo has a draft invoice");
  const lines = draft.values.totals.lines;
  const sum = lines.reduce((n, l) => n + Number(l.amount ?? Number(l.quantity) * Number(l.unit_price)), 0);
  const [first] = await desk.push([update("invoice", draft.record_id, "totals", 1, { subtotal: sum, tax: 40, total: sum + 40 })]);
  assert.equal(first.status, "applied", JSON.stringify(first));
  const [second] = await laptop.push([update("invoice", draft.record_id, "totals", 1, { subtotal: sum, tax: 42, total: sum + 42 })]);
  assert.equal(second.status, "held", JSON.stringify(second));

  const app = await officeApp(server.base, server.dir, "fiona");
  running.push(app.proc);
  const { b, page } = await open(app.url);
  const dialogs = noBrowserDialogs(page);
  try {
    await page.getByRole("button", { name: "Review inbox" }).click();
    const card = page.locator("[data-testid=inbox] article[data-kind=conflict]", { hasText: "totals" });
    await card.waitFor();
    assert.match(await card.innerText(), /Fiona Marsh · Fiona's laptop/);
    await card.getByRole("button", { name: "Merge…" }).click();
    const form = card.locator("[data-testid=merge-form]");
    await form.waitFor();
    // The edit forms' typed widgets, prefilled from current: money fields are numbers, the
    // lines are rows, nothing is a JSON text box.
    const total = form.getByLabel("Total", { exact: true });
    assert.equal(await total.getAttribute("type"), "number");
    assert.equal(await total.inputValue(), String(sum + 40));
    assert.equal(await form.getByLabel("Line 1 description").inputValue(), String(lines[0].description ?? lines[0].text));
    assert.equal(await form.locator("input[aria-label='Merged value']").count(), 0);

    // A total that is not subtotal plus tax: its sentence shows next to it, and Save sends nothing.
    await form.getByLabel("Tax").fill("10");
    await total.fill("999");
    await form.locator("[data-testid=problem-total]").waitFor({ timeout: 10000 });
    assert.match(await form.locator("[data-testid=problem-total]").innerText(), /total/i);
    await form.getByRole("button", { name: "Save merged" }).click();
    await form.locator("[data-testid=merge-error]").waitFor();
    assert.match(await form.locator("[data-testid=merge-error]").innerText(), /Not sent: correct the fields marked above/);
    assert.doesNotMatch(await page.locator("body").innerText(), /SyntaxError|Unexpected token/);
    await shot(page, "inbox-merge-form-refused");
    await accessible(page, "inbox with the merge form");
    const still = await laptop.pullAll();
    const status = still.filter((c) => c.record_id === draft.record_id && c.group === "totals").at(-1);
    assert.equal(status.values.total, sum + 40, "nothing was sent");

    // Corrected, it is sent and the card is settled.
    await total.fill(String(sum + 10));
    await page.waitForFunction(() => !document.querySelector("[data-testid=problem-total]"), null, { timeout: 10000 });
    await form.getByRole("button", { name: "Save merged" }).click();
    await page.waitForFunction(() => ![...document.querySelectorAll("[data-testid=inbox] article")].some((a) => a.textContent.includes("totals")), null, { timeout: 20000 });
    const after = await laptop.pullAll();
    const merged = after.filter((c) => c.record_id === draft.record_id && c.group === "totals").at(-1);
    assert.equal(merged.values.total, sum + 10);
    assert.equal(merged.values.tax, 10);
    await shot(page, "inbox-merge-saved");
    assert.deepEqual(dialogs, []);
  } finally {
    await b.close();
  }
});

test("keeping current on a card whose group moved meanwhile is refused, and the card shows the group as it stands", async () => {
  const { server, b, page } = await officeSession(running, "sam");
  try {
    // This page hears no change notices (the stream is refused from the first load), so the
    // card stays as the person read it while another desk acts: a person looking at a card
    // while a notice is on its way, held still.
    await page.route("**/events", (route) => route.abort());
    await page.reload();
    const tablet = await device(server.base, "sam", "Supervisor tablet 2");
    const job = await jobStatus(tablet, "Heating not reaching classroom 3");
    const [joined] = await tablet.push([update("job", job.id, "status", job.version, { state: "in_progress" })]);
    assert.equal(joined.status, "held", JSON.stringify(joined));
    await page.getByRole("button", { name: "Review inbox" }).click();
    const card = page.locator("[data-testid=inbox] article[data-kind=conflict]", { hasText: "status" });
    await page.waitForFunction(
      () => [...document.querySelectorAll("[data-testid=inbox] article[data-kind=conflict]")].some((a) => a.querySelectorAll("[data-testid=held-version]").length === 2),
      null,
      { timeout: 20000 },
    );
    // Another desk takes the newer version.
    const login = await fetch(`${server.base}/api/v1/auth/login`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ username: "sam", password: "fieldsync-demo", device_name: "Supervisor tablet 3" }),
    }).then((r) => r.json());
    const taken = await fetch(`${server.base}/api/v1/review/${joined.review_id}/resolve`, {
      method: "POST",
      headers: { Authorization: `Bearer ${login.token}`, "Content-Type": "application/json" },
      body: JSON.stringify({ choice: "incoming" }),
    });
    assert.equal(taken.status, 200, await taken.text());
    assert.match(await card.innerText(), /Current \(as it stands now\)[\s\S]*paused/, "the card still shows what the person read");

    await card.getByRole("button", { name: /^Keep current/ }).click();
    await card.locator("[data-testid=card-error]").waitFor({ timeout: 20000 });
    assert.match(await card.locator("[data-testid=card-error]").innerText(), /This changed since you opened it/);
    await page.waitForFunction(
      () => {
        const a = [...document.querySelectorAll("[data-testid=inbox] article[data-kind=conflict]")].find((x) => x.textContent.includes("status"));
        return a && a.querySelectorAll("[data-testid=held-version]").length === 1 && /Current \(as it stands now\)[\s\S]*in progress[\s\S]*Incoming/.test(a.textContent);
      },
      null,
      { timeout: 20000 },
    );
    await shot(page, "inbox-keep-refused");
    // On the picture it shows now, keeping current keeps "in progress".
    await card.getByRole("button", { name: /^Keep current/ }).click();
    await page.waitForFunction(() => ![...document.querySelectorAll("[data-testid=inbox] article[data-kind=conflict]")].some((a) => a.textContent.includes("status")), null, { timeout: 20000 });
    const changes = await tablet.pullAll();
    const last = changes.filter((c) => c.record_id === job.id && c.group === "status").at(-1);
    assert.equal(last.values.state, "in_progress");
  } finally {
    await b.close();
  }
});

test("two people on one inbox: a card settled at another desk leaves a note saying so, not a silent gap", async () => {
  const { server, b, page } = await officeSession(running, "sam");
  try {
    await page.getByRole("button", { name: "Review inbox" }).click();
    const card = page.locator("[data-testid=inbox] article[data-kind=conflict]", { hasText: "status" });
    await card.first().waitFor({ timeout: 20000 });
    // Another supervisor's desk (here Sam's second computer, through the API) keeps the current
    // status for every held version of that card.
    const login = await fetch(`${server.base}/api/v1/auth/login`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ username: "sam", password: "fieldsync-demo", device_name: "Supervisor desk 2" }),
    }).then((r) => r.json());
    const open = await fetch(`${server.base}/api/v1/review`, { headers: { Authorization: `Bearer ${login.token}` } }).then((r) => r.json());
    const held = open.filter((i) => i.kind === "conflict" && i.group === "status" && i.state === "open");
    assert.ok(held.length > 0, "the demo's status conflict is open");
    for (const item of held) {
      const done = await fetch(`${server.base}/api/v1/review/${item.review_id}/resolve`, {
        method: "POST",
        headers: { Authorization: `Bearer ${login.token}`, "Content-Type": "application/json" },
        body: JSON.stringify({ choice: "current" }),
      });
      assert.equal(done.status, 200, await done.text());
    }
    // The open inbox hears of it by itself, and says what happened to the card it showed.
    const note = page.locator("[data-testid=card-gone]");
    await note.waitFor({ timeout: 20000 });
    assert.match(await note.innerText(), /settled elsewhere, by someone else or on another computer/);
    assert.equal(await card.count(), 0, "the settled card is gone");
    await shot(page, "inbox-settled-elsewhere");
  } finally {
    await b.close();
  }
});
