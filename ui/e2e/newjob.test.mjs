// The new job form in a real browser against the demo: it opens as its own panel under the board's
// toolbar (the search box and status filter stay put), picking a customer fills the Site from the
// customer's site address (while the Site is empty or still the last customer's; a typed site
// stays), and saving without a site says exactly what is missing.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { accessible, officeSession, shot, stop } from "./harness.mjs";

const running = [];
after(async () => {
  for (const proc of running.reverse()) await stop(proc);
});

test("the new job form opens under the toolbar, fills the site from the customer and says what is missing", { timeout: 120000 }, async () => {
  const { b, page } = await officeSession(running, "dana");
  try {
    const search = page.getByLabel("Search jobs");
    await search.waitFor();
    const filter = page.getByLabel("Filter by status");
    const before = { search: await search.boundingBox(), filter: await filter.boundingBox() };
    await page.getByRole("button", { name: "New job", exact: true }).click();
    const form = page.getByRole("dialog", { name: "New job" });
    await form.waitFor();
    // The toolbar stays as it was; the form is a panel below it.
    const after = { search: await search.boundingBox(), filter: await filter.boundingBox(), form: await form.boundingBox() };
    assert.equal(after.search.y, before.search.y, "the search box stays where it was");
    assert.equal(after.filter.y, before.filter.y, "the status filter stays where it was");
    assert.ok(after.form.y >= after.search.y + after.search.height, JSON.stringify(after));

    const customer = form.getByLabel("Customer");
    const site = form.getByLabel("Site");
    await customer.locator("option", { hasText: "Harbour View Apartments" }).waitFor({ state: "attached" });
    await customer.selectOption({ label: "Harbour View Apartments" });
    const harbour = await site.inputValue();
    assert.match(harbour, /\S/, "the customer's site address fills the empty Site");
    await customer.selectOption({ label: "Northgate Bakery" });
    const bakery = await site.inputValue();
    assert.match(bakery, /\S/);
    assert.notEqual(bakery, harbour, "the previous customer's address follows the customer");
    await site.fill("Unit 3, back yard");
    await customer.selectOption({ label: "Harbour View Apartments" });
    assert.equal(await site.inputValue(), "Unit 3, back yard", "a typed site stays");

    for (const [w, h] of [
      [1440, 900],
      [1280, 720],
    ]) {
      await page.setViewportSize({ width: w, height: h });
      await shot(page, `new-job-panel-${w}x${h}`);
    }
    await page.setViewportSize({ width: 1440, height: 900 });
    await accessible(page, "new job form");

    // Without a site: the one thing missing, as a sentence.
    await site.fill("");
    await form.getByLabel("Summary").fill("Door closer sticks");
    await form.getByRole("button", { name: "Save", exact: true }).click();
    await form.getByText("Type the site's address.", { exact: true }).waitFor({ timeout: 10000 });
    assert.doesNotMatch(await form.innerText(), /choose a customer and a site/);
  } finally {
    await b.close();
  }
});
