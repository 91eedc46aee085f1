// Finance's invoices in a real browser against the demo server and the real command layer: an
// invoice made from a job with its totals computed as the lines are typed, sent, then locked
// (no edit offered; the server refuses a change too); the list as CSV with formula-looking text
// made safe; a totals conflict between two finance desks settled from its line table.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { accessible, demoServer, device, officeApp, officeSession, open, shot, stop, update } from "./harness.mjs";

const running = [];
after(async () => {
  for (const proc of running.reverse()) await stop(proc);
});

/** Screenshots at both sizes the office uses, then back to the first. */
async function shots(page, name) {
  for (const [w, h] of [
    [1440, 900],
    [1280, 720],
  ]) {
    await page.setViewportSize({ width: w, height: h });
    await shot(page, `${name}-${w}x${h}`);
  }
  await page.setViewportSize({ width: 1440, height: 900 });
}

test("finance makes an invoice from a job, sends it, then cannot change it; the list exports as CSV", { timeout: 180000 }, async () => {
  const { server, b, page } = await officeSession(running, "fiona");
  const dialogs = [];
  page.on("dialog", (d) => {
    dialogs.push(d.message());
    d.dismiss().catch(() => undefined);
  });
  try {
    await page.getByRole("button", { name: "Invoices", exact: true }).click();
    await page.locator("[data-testid=invoice-row]").first().waitFor();
    // The list: number, job, customer, state, total in its currency, sync.
    const first = await page.locator("[data-testid=invoices] table").innerText();
    assert.match(first, /INV-\d+/);
    assert.match(first, /£\d+\.\d{2} GBP/);
    assert.match(first, /Harbour View Apartments|Northgate Bakery/);
    await shots(page, "invoices-list");
    await accessible(page, "invoice list");

    // A new invoice from the signed-off gas safety check: the job's labour line waits for a price.
    await page.getByRole("button", { name: "New invoice…" }).click();
    const pick = page.getByLabel("Job to invoice");
    const value = await pick.evaluate((select) => [...select.options].find((o) => o.text.includes("Annual gas safety check"))?.value);
    assert.ok(value, "the signed-off job is offered");
    await pick.selectOption(value);
    await page.getByRole("button", { name: "Start the invoice" }).click();
    const form = page.locator("[data-testid=invoice-form]");
    await form.waitFor();
    assert.equal(await form.getByLabel("Line 1 description").inputValue(), "Labour");
    assert.equal(await form.getByLabel("Line 1 quantity").inputValue(), "2.5", "the job's labour hours");
    await form.getByLabel("Line 1 unit price").fill("85");
    await form.getByRole("button", { name: "Add line" }).click();
    await form.getByLabel("Line 2 description").fill("=1+1 checks");
    await form.getByLabel("Line 2 quantity").fill("2");
    await form.getByLabel("Line 2 unit price").fill("12.10");
    // The totals are the command layer's (the core's rule), in the invoice's currency.
    await page.waitForFunction(() => document.querySelector("[data-testid=form-total]")?.textContent === "£284.04", null, { timeout: 10000 });
    assert.equal(await form.locator("[data-testid=form-subtotal]").innerText(), "£236.70");
    assert.equal(await form.locator("[data-testid=form-tax]").innerText(), "£47.34");
    assert.equal(await form.locator("[data-testid=line-amount]").nth(1).innerText(), "£24.20");
    // A line that does not add up gets its sentence next to its box.
    await form.getByLabel("Line 2 quantity").fill("0");
    await form.getByText("Line 2's quantity must be more than 0.").waitFor({ timeout: 10000 });
    await form.getByLabel("Line 2 quantity").fill("2");
    await page.waitForFunction(() => document.querySelector("[data-testid=form-total]")?.textContent === "£284.04", null, { timeout: 10000 });
    await shots(page, "invoice-new");
    await accessible(page, "new invoice form");
    await form.getByRole("button", { name: "Save draft invoice" }).click();

    const panel = page.locator("[data-testid=invoice-detail]");
    await panel.locator("[data-testid=invoice-state]", { hasText: "Draft" }).waitFor({ timeout: 20000 });
    await page.waitForFunction(() => /INV-\d+/.test(document.querySelector("[data-testid=invoice-detail] h2")?.textContent ?? ""), null, { timeout: 20000 });
    await panel.locator("[data-testid=invoice-sync]", { hasText: "Synced" }).waitFor({ timeout: 20000 });
    const number = (await panel.locator("h2").innerText()).match(/INV-\d+/)[0];
    assert.equal(await panel.locator("[data-testid=total]").innerText(), "£284.04");

    // Sent: the dialog says it locks; then the panel shows it locked and offers no edit.
    await panel.getByRole("button", { name: "Send…" }).click();
    const send = panel.locator("[data-testid=send-dialog]");
    assert.match(await send.innerText(), /locked/);
    await send.getByRole("button", { name: `Send ${number}` }).click();
    await panel.locator("[data-testid=invoice-state]", { hasText: "Sent" }).waitFor({ timeout: 20000 });
    await panel.locator("[data-testid=invoice-sync]", { hasText: "Synced" }).waitFor({ timeout: 20000 });
    assert.match(await panel.locator("[data-testid=invoice-locked]").innerText(), new RegExp(`${number} is sent: its lines and totals are locked`));
    assert.equal(await panel.getByRole("button", { name: "Edit lines and tax" }).count(), 0, "no edit offered");
    assert.equal(await panel.locator("[data-testid=invoice-form]").count(), 0);
    // Said once: the locked box says it is sent, no second notice repeats it.
    assert.equal((await panel.innerText()).split(`${number} is sent`).length - 1, 1, await panel.innerText());
    assert.equal(await panel.getByRole("button", { name: "Mark paid…" }).count(), 1);
    const row = page.locator("[data-testid=invoice-row]", { hasText: number });
    await row.locator(".pill", { hasText: "Sent" }).waitFor();
    assert.match(await row.innerText(), /locked/);
    assert.match(await row.innerText(), /Harbour View Apartments/);
    assert.match(await row.innerText(), /£284\.04 GBP/);
    await shots(page, "invoice-sent-locked");
    // At 1280x720 the lines stay inside the panel's border (the Amount column used to stick out).
    await page.setViewportSize({ width: 1280, height: 720 });
    const inside = await page.evaluate(() => {
      const aside = document.querySelector("[data-testid=invoice-detail]").getBoundingClientRect();
      const table = document.querySelector("[data-testid=invoice-detail] [data-testid=invoice-lines]").getBoundingClientRect();
      return { aside: aside.right, table: table.right };
    });
    assert.ok(inside.table <= inside.aside - 8, JSON.stringify(inside));
    await page.setViewportSize({ width: 1440, height: 900 });
    await accessible(page, "sent invoice");

    // The server refuses a change to its totals too, with a sentence.
    const script = await device(server.base, "fiona", "Another finance desk");
    const changes = await script.pullAll();
    const made = changes.find((c) => c.record_type === "invoice" && c.op === "create" && JSON.stringify(c.values).includes("=1+1 checks"));
    assert.ok(made, "the server has the invoice");
    const version = changes.filter((c) => c.record_id === made.record_id && (c.group === "totals" || c.op === "create")).length;
    const [refused] = await script.push([update("invoice", made.record_id, "totals", version, { tax: 0, total: 236.7 })]);
    assert.equal(refused.status, "rejected", JSON.stringify(refused));
    assert.equal(refused.code, "record_locked");
    assert.match(refused.message, new RegExp(`${number} is sent, so its totals is locked`));

    // The list as CSV: a browser has no save dialog, so the app's exports folder; the file read back.
    await page.getByLabel("Filter by state").selectOption("sent");
    await page.waitForFunction(() => [...document.querySelectorAll("[data-testid=invoice-row]")].every((r) => r.dataset.state === "sent"));
    await page.getByRole("button", { name: "Export CSV" }).click();
    const said = page.locator("[data-testid=exported]");
    await said.waitFor({ timeout: 20000 });
    const [, path] = (await said.innerText()).match(/saved to (\S+\.csv)/);
    assert.match(path, /\/exports\/fieldsync-invoices-sent-\d{4}-\d{2}-\d{2}\.csv$/);
    const csv = await readFile(path, "utf8");
    const [header, ...rows] = csv.trim().split("\n");
    assert.equal(header, "invoice_number,state,job_number,customer,currency,line,description,quantity,unit_price,line_amount,subtotal,tax,total,invoice_id");
    const ours = rows.filter((r) => r.startsWith(`${number},`));
    assert.equal(ours.length, 2, csv);
    assert.match(ours[0], /,1,Labour,2\.5,85\.00,212\.50,236\.70,47\.34,284\.04,/);
    assert.match(ours[1], /,2,'=1\+1 checks,2,12\.10,24\.20,236\.70,47\.34,284\.04,/, "the formula-looking description is text");
    assert.ok(rows.every((r) => r.includes(",sent,")), "only sent invoices");
    await shots(page, "invoices-exported");

    // Mark paid asks first, with the amount and who paid it; Cancel leaves it sent.
    await panel.getByRole("button", { name: "Mark paid…" }).click();
    const paid = panel.getByRole("dialog", { name: `Mark ${number} paid?` });
    assert.match(await paid.innerText(), /£284\.04 received from Harbour View Apartments/);
    await shots(page, "invoice-mark-paid-dialog");
    await accessible(page, "mark paid dialog");
    await paid.getByRole("button", { name: "Cancel" }).click();
    assert.equal(await paid.count(), 0);
    assert.match(await panel.locator("[data-testid=invoice-state]").textContent(), /^sent$/i, "cancel leaves it sent");
    await panel.getByRole("button", { name: "Mark paid…" }).click();
    await paid.getByRole("button", { name: `Mark ${number} paid` }).click();
    await panel.locator("[data-testid=invoice-state]", { hasText: "Paid" }).waitFor({ timeout: 20000 });
    await panel.locator("[data-testid=invoice-sync]", { hasText: "Synced" }).waitFor({ timeout: 20000 });
    assert.equal((await panel.innerText()).split(`${number} is paid`).length - 1, 1, "said once");
    assert.equal(await panel.getByRole("button", { name: /Mark paid/ }).count(), 0);
    assert.deepEqual(dialogs, [], "no browser dialogs");
  } finally {
    await b.close();
  }
});

test("finance resolves a totals conflict from the line table", { timeout: 180000 }, async () => {
  const server = await demoServer();
  running.push(server.proc);
  // Two finance desks change the demo's draft from the same version: the desk adds a callout,
  // the laptop (second to arrive: held) makes the labour 1.5 h at 120 and the tax 5 %.
  const desk = await device(server.base, "fiona", "Finance desk");
  const laptop = await device(server.base, "fiona", "Fiona's laptop");
  const draft = (await desk.pullAll()).find((c) => c.record_type === "invoice" && c.op === "create" && c.state === "draft");
  assert.ok(draft, "the demo has a draft invoice");
  const [first] = await desk.push([
    update("invoice", draft.record_id, "totals", 1, {
      lines: [
        { description: "Labour", quantity: 1, unit_price: 180 },
        { description: "Callout", quantity: 1, unit_price: 45 },
      ],
      subtotal: 225,
      tax: 45,
      total: 270,
    }),
  ]);
  assert.equal(first.status, "applied", JSON.stringify(first));
  const [second] = await laptop.push([update("invoice", draft.record_id, "totals", 1, { lines: [{ description: "Labour", quantity: 1.5, unit_price: 120 }], subtotal: 180, tax: 9, total: 189 })]);
  assert.equal(second.status, "held", JSON.stringify(second));

  const app = await officeApp(server.base, server.dir, "fiona");
  running.push(app.proc);
  const { b, page } = await open(app.url, { viewport: { width: 1440, height: 900 } });
  try {
    await page.getByRole("button", { name: "Invoices", exact: true }).click();
    await page.locator("[data-testid=invoices] .under-review").waitFor({ timeout: 20000 });
    await page.getByRole("button", { name: "Totals under review: resolve" }).click();
    const card = page.locator("[data-testid=inbox] article[data-kind=conflict]", { hasText: "totals" });
    const table = card.locator("[data-testid=totals-conflict] [data-testid=invoice-lines]");
    await table.waitFor({ timeout: 20000 });
    assert.match(await card.innerText(), /Fiona Marsh · Fiona's laptop/);
    // Line by line: line 1 differs in quantity and price (the same amount), line 2 is only in current.
    const rows = table.locator("[data-testid=line-row]");
    assert.equal(await rows.count(), 2);
    assert.equal(await rows.nth(0).getAttribute("data-differs"), "quantity unit_price");
    assert.equal(await rows.nth(1).getAttribute("data-differs"), "removed");
    assert.match(await rows.nth(0).innerText(), /Labour\s+1\s+£180\.00\s+£180\.00\s+Labour\s+1\.5\s+£120\.00\s+£180\.00/);
    assert.match(await rows.nth(1).innerText(), /Callout\s+1\s+£45\.00\s+£45\.00/);
    assert.match(await table.locator("[data-testid=totals-total]").innerText(), /£270\.00[\s\S]*£189\.00/);
    // Highlighted: the cells that differ carry the highlight.
    assert.equal(await rows.nth(0).locator("td.diff").count(), 4, "quantity and unit price on both sides");

    // Settled from the table: this version's labour, current's callout, this version's 5 % rate.
    await card.getByLabel("Line 1: this version").check();
    await card.getByText("5 % of the merged subtotal (this version's rate)").click();
    await page.waitForFunction(() => /total £236\.25/.test(document.querySelector("[data-testid=merged-totals]")?.textContent ?? ""), null, { timeout: 10000 });
    assert.match(await card.locator("[data-testid=merged-totals]").innerText(), /subtotal £225\.00 · tax £11\.25 · total £236\.25/);
    await shots(page, "invoice-totals-conflict");
    await accessible(page, "totals conflict line table");
    await card.getByRole("button", { name: "Save merged from the table" }).click();
    await page.waitForFunction(() => !document.querySelector("[data-testid=inbox] article[data-kind=conflict] [data-testid=totals-conflict]"), null, { timeout: 20000 });

    await page.getByRole("button", { name: "Invoices", exact: true }).click();
    await page.waitForFunction(() => {
      const t = document.querySelector("[data-testid=invoices]")?.textContent ?? "";
      return t.includes("£236.25 GBP") && !document.querySelector("[data-testid=invoices] .under-review");
    }, null, { timeout: 20000 });
    const merged = (await laptop.pullAll()).filter((c) => c.record_id === draft.record_id && c.group === "totals").at(-1);
    assert.equal(merged.values.total, 236.25, "the merged totals are on the server");
    assert.deepEqual(
      merged.values.lines.map((l) => [l.description, l.quantity, l.unit_price]),
      [
        ["Labour", 1.5, 120],
        ["Callout", 1, 45],
      ],
    );
    await shots(page, "invoice-conflict-resolved");
  } finally {
    await b.close();
  }
});
