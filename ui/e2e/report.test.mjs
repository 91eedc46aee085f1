// The weekly sync review in a real browser: the demo's collisions plus a refusal, a void that
// meets an update, an edit made after a reassignment and a change synced three hours late, all
// pushed to the real server; the page lists each, per device and per rule, and exports the CSV.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { demoServer, officeApp, browser, shot, stop } from "./harness.mjs";

const running = [];
after(async () => {
  for (const proc of running.reverse()) await stop(proc);
});

/** A device signed in to the server's API, for making the period's events "elsewhere". */
async function signIn(base, username, deviceName) {
  const response = await fetch(`${base}/api/v1/auth/login`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username, password: "fieldsync-demo", device_name: deviceName }),
  });
  assert.equal(response.status, 200, `sign-in as ${username}`);
  const { token } = await response.json();
  const headers = { Authorization: `Bearer ${token}`, "Content-Type": "application/json" };
  const call = async (method, path, body) => {
    const r = await fetch(`${base}${path}`, { method, headers, body: body && JSON.stringify(body) });
    const answer = await r.json();
    assert.ok(r.ok, `${method} ${path}: ${JSON.stringify(answer)}`);
    return answer;
  };
  return {
    call,
    async push(change) {
      const { outcomes } = await call("POST", "/api/v1/sync/push", { changes: [change] });
      return outcomes[0];
    },
  };
}

function change(recordId, group, op, baseVersion, values, { ownerEpoch = 1, savedAt = new Date() } = {}) {
  return {
    change_id: crypto.randomUUID(),
    record_type: "job",
    record_id: recordId,
    group,
    op,
    base_version: baseVersion,
    values,
    owner_epoch: ownerEpoch,
    device_time: savedAt.toISOString(),
  };
}

/** The demo's jobs by their summary, with each group's current version, from an office pull. */
async function jobs(office) {
  const all = [];
  for (let after = 0; ; ) {
    const page = await office.call("GET", `/api/v1/sync/pull?after=${after}&limit=1000`);
    all.push(...page.changes);
    after = page.next;
    if (!page.more) break;
  }
  const byId = new Map();
  for (const c of all.filter((c) => c.record_type === "job")) {
    const job = byId.get(c.record_id) ?? { id: c.record_id, summary: "", versions: {} };
    if (c.op === "create") {
      job.summary = c.values.description?.summary ?? "";
      for (const g of Object.keys(c.values)) job.versions[g] = 1;
    } else if (c.group) {
      job.versions[c.group] = Math.max(job.versions[c.group] ?? 0, c.version);
    }
    byId.set(c.record_id, job);
  }
  return (summary) => {
    const job = [...byId.values()].find((j) => j.summary.startsWith(summary));
    assert.ok(job, `the demo has a job "${summary}"`);
    return job;
  };
}

test("the sync review lists every kind of event per device and per rule, and exports it as CSV", async () => {
  const server = await demoServer();
  running.push(server.proc);
  const dana = await signIn(server.base, "dana", "Dispatch desk");
  const tom = await signIn(server.base, "tom", "Tom's tablet");
  const rita = await signIn(server.base, "rita", "Rita's phone");
  const job = await jobs(dana);

  // Rita writes on Tom's job: refused.
  const oven = job("Oven thermostat fault");
  const refused = await rita.push(change(oven.id, "description", "update", oven.versions.description, { summary: "Rita's words" }));
  assert.equal(refused.status, "rejected");
  // Dispatch voids the oven job while Tom, offline, starts it: a void meets an update.
  assert.equal((await dana.push(change(oven.id, "status", "void", oven.versions.status, { reason: "customer cancelled" }))).status, "applied");
  const voidVsUpdate = await tom.push(change(oven.id, "status", "update", oven.versions.status, { state: "in_progress" }));
  assert.equal(voidVsUpdate.code, "void_vs_update");
  // The boiler job moves to Rita; Tom's edit made before he heard is held.
  const boiler = job("Boiler service");
  await dana.call("POST", `/api/v1/records/job/${boiler.id}/reassign`, { owner: { kind: "user", name: "rita" } });
  const moved = await tom.push(change(boiler.id, "status", "update", boiler.versions.status, { state: "opened" }));
  assert.equal(moved.code, "ownership_moved");
  // A note on the classroom job saved three hours ago reaches the server now: slow.
  const heating = job("Heating not reaching");
  const threeHoursAgo = new Date(Date.now() - 3 * 3600 * 1000);
  const slow = await tom.push(
    change(heating.id, "description", "update", heating.versions.description, { summary: "Heating not reaching classroom 3 (valve replaced)" }, { savedAt: threeHoursAgo }),
  );
  assert.equal(slow.status, "applied");

  const app = await officeApp(server.base, server.dir, "dana");
  running.push(app.proc);
  const b = await browser();
  const context = await b.newContext({ viewport: { width: 1440, height: 900 }, acceptDownloads: true });
  const page = await context.newPage();
  try {
    await page.goto(app.url);
    const nav = page.getByRole("button", { name: "Sync review" });
    await nav.focus();
    await page.keyboard.press("Enter");
    const events = page.locator("[data-testid=report-events] tbody tr[data-kind]");
    await events.first().waitFor();

    for (const kind of ["possible_duplicate", "conflict", "void_vs_update", "rejected", "ownership_moved", "slow_change"]) {
      assert.ok((await page.locator(`[data-testid=report-events] tr[data-kind=${kind}]`).count()) >= 1, `a ${kind} row`);
    }
    const slowRow = page.locator("[data-testid=report-events] tr[data-kind=slow_change]");
    assert.match(await slowRow.innerText(), /3 h\b/);
    assert.match(await slowRow.innerText(), /Tom's tablet/);
    const rejectedRow = page.locator("[data-testid=report-events] tr[data-kind=rejected]");
    assert.match(await rejectedRow.innerText(), /rita/);
    assert.match(await rejectedRow.innerText(), /Rita's phone/);

    // Per device: Tom's tablet has the conflict, the void vs update, the held edit and the slow change.
    const tablet = page.locator("[data-testid=report-devices] tbody tr", { hasText: "Tom's tablet" });
    const cells = (await tablet.locator("td").allInnerTexts()).map((t) => t.trim());
    // user, duplicate, conflict, void vs update, rejected, ownership moved, slow, total
    assert.deepEqual(cells, ["tom", "0", "1", "1", "0", "1", "1", "4"]);
    const rules = await page.locator("[data-testid=report-rules]").innerText();
    for (const rule of ["manual_review", "ownership_moved", "duplicate_match", "sync_delay", refused.code]) {
      assert.ok(rules.includes(rule), `rule ${rule} in ${rules}`);
    }
    const causes = await page.locator("[data-testid=report-causes]").innerText();
    assert.match(causes, /Ownership 2/);
    assert.match(causes, /Conflict rule 2/);
    assert.match(causes, /Retry timing 1/);
    await shot(page, "report");

    // A card filters the list, and says so to a screen reader.
    const slowCard = page.locator(".kind-card.kind-slow_change");
    await slowCard.click();
    assert.equal(await slowCard.getAttribute("aria-pressed"), "true");
    assert.equal(await events.count(), 1);
    await slowCard.click();
    assert.ok((await events.count()) >= 6);

    // Export CSV: a file the app writes (a browser has no save dialog: its exports folder),
    // never a download link, which does nothing in the desktop window; the page says where.
    let downloads = 0;
    page.on("download", () => downloads++);
    await page.getByRole("button", { name: "Export CSV" }).click();
    const said = page.locator("[role=status]", { hasText: "events saved to" });
    await said.waitFor();
    const [, path] = (await said.innerText()).match(/events saved to (\S+\.csv)/);
    assert.match(path, /\/exports\/fieldsync-sync-review-\d{4}-\d{2}-\d{2}-to-\d{4}-\d{2}-\d{2}\.csv$/);
    assert.equal(downloads, 0, "no browser download");
    const csv = await readFile(path, "utf8");
    const [header, ...rows] = csv.trim().split("\n");
    assert.equal(header.split(",").slice(0, 4).join(","), "kind,cause,rule,code");
    const kinds = rows.map((r) => r.split(",")[0]);
    for (const kind of ["possible_duplicate", "conflict", "void_vs_update", "rejected", "ownership_moved", "slow_change"]) {
      assert.ok(kinds.includes(kind), `${kind} in the CSV:\n${csv}`);
    }
    assert.equal(rows.length, await events.count(), "one CSV row per event on the page");
    assert.ok(csv.includes(`rejected,ownership,${refused.code},${refused.code},job,`), csv);
    assert.ok(csv.includes("slow_change,retry_timing,sync_delay,,job,"), csv);

    // An event links to its job's detail.
    await page.locator("[data-testid=report-events] tr[data-kind=ownership_moved] button.link").click();
    await page.waitForSelector("[data-testid=job-detail]");
    assert.match(await page.locator("[data-testid=job-detail]").innerText(), /Boiler service/);
  } finally {
    await b.close();
  }
});

test("a technician is not offered the sync review", async () => {
  const server = await demoServer();
  running.push(server.proc);
  const app = await officeApp(server.base, server.dir, "tom");
  running.push(app.proc);
  const b = await browser();
  const page = await b.newPage();
  try {
    await page.goto(app.url);
    await page.waitForSelector("header nav");
    await page.getByRole("button", { name: "Sync rules" }).waitFor();
    assert.equal(await page.getByRole("button", { name: "Sync review" }).count(), 0);
  } finally {
    await b.close();
  }
});
