// The schedule board in a real browser against the demo server and the real command layer: a
// drag from a silent technician with unsynced work shows the reassign dialog's warning and
// moves the job (and the old device learns it); a drag along a row moves it in time, keeping
// its owner; the keyboard's Move dialog does the same; a drop on a team gives it to the team;
// filters narrow the rows; axe-core finds nothing serious; screenshots at 1440x900 and 1280x720.
// The drags are a real mouse's (Playwright's mouse: pointerdown, pointermove, pointerup).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { accessible, device, officeSession, shot, stop } from "./harness.mjs";

const running = [];
let session;
before(async () => {
  // Local time differs from UTC here, so a board that forgot the zone would put cards an hour off.
  session = await officeSession(running, "dana", { timezoneId: "Europe/Berlin", locale: "en-GB", viewport: { width: 1440, height: 900 } });
});
after(async () => {
  await session?.b.close();
  for (const proc of running.reverse()) await stop(proc);
});

/** The card of the job whose words hold `words`. */
const card = (page, words) => page.locator(".sched-card", { hasText: words });

/** Polls `check` until it returns something truthy (no sleeping on a guess). */
async function until(what, check, ms = 20000) {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what} ${last ?? ""}`);
}

/** Drags `from` (a locator) with the mouse to the point (x, y), in steps, as a person does. */
async function drag(page, from, x, y) {
  const box = await from.boundingBox();
  const sx = box.x + Math.min(30, box.width / 2);
  const sy = box.y + box.height / 2;
  await page.mouse.move(sx, sy);
  await page.mouse.down();
  for (let i = 1; i <= 8; i++) await page.mouse.move(sx + ((x - sx) * i) / 8, sy + ((y - sy) * i) / 8);
  await page.mouse.up();
  return { sx, sy };
}

/** The newest schedule values of `recordId` as a device of `user` pulls them. */
async function scheduleOnServer(user, name, recordId) {
  const changes = await (await device(session.server.base, user, name)).pullAll();
  const mine = changes.filter((c) => c.record_id === recordId);
  let values = {};
  for (const c of mine) {
    if (c.op === "create") values = { ...c.values.schedule };
    else if (c.group === "schedule") values = { ...values, ...c.values };
  }
  return { values, owner: mine.at(-1)?.owner };
}

/** A job's id, from the demo as dispatch pulls it. */
async function jobId(summary) {
  const changes = await (await device(session.server.base, "dana", "Dispatch test desk")).pullAll();
  return changes.find((c) => c.record_type === "job" && c.op === "create" && c.values.description?.summary === summary).record_id;
}

test("a dispatcher drags a job from a silent technician with unsynced work, sees the warning, and the old device learns", async () => {
  const { page, server } = session;
  // Kai's tablet pulls, reporting 4 changes it could not send, then goes quiet.
  const kai = await device(server.base, "kai", "Kai's tablet");
  await kai.pull(0, { outbox_depth: "4", oldest_pending: new Date(Date.now() - 3 * 3600 * 1000).toISOString() });
  await page.getByRole("button", { name: "Schedule", exact: true }).click();
  await page.waitForSelector("[data-testid=row-kai] .sched-card");
  // The device list is read again on a sync round: Kai's row says what his tablet holds.
  await page.getByRole("button", { name: /Sync now/ }).click();
  const kaiRow = page.locator("[data-testid=row-kai]");
  await until("Kai's row to warn", async () => /4 changes not yet synced/.test(await kaiRow.innerText()));
  // The same sentence as the reassign dialog's, beside his name.
  assert.match(await kaiRow.innerText(), /Kai's tablet: 4 changes not yet synced, last seen/);
  assert.equal(await page.locator("[data-testid=now-line]").count(), 1, "today's board has its now-line");
  // Its time sits in its own strip, clear of the team row's words under it.
  const nowLabel = await page.locator("[data-testid=now-label]").boundingBox();
  const teamRow = await page.locator("[data-testid=team-north]").boundingBox();
  assert.ok(nowLabel.y + nowLabel.height <= teamRow.y, `the now label (${JSON.stringify(nowLabel)}) is above the team row (${JSON.stringify(teamRow)})`);
  assert.match(await page.locator("[data-testid=now-label]").innerText(), /^now \d{2}:\d{2}$/, "the locale's clock (en-GB: 24-hour)");
  // Cards stacked, not overlapping: Tom has two jobs in the same morning.
  const tomCards = page.locator("[data-testid=row-tom] .sched-card");
  assert.equal(await tomCards.count(), 2);
  const [a, b] = [await tomCards.nth(0).boundingBox(), await tomCards.nth(1).boundingBox()];
  assert.ok(a.y + a.height <= b.y || b.y + b.height <= a.y, "Tom's two morning jobs do not overlap");
  // Times in the person's zone: the demo's 08:00 UTC reads 09:00 in Berlin.
  assert.match(await card(page, "walk-in cooler").innerText(), /09:00–13:00/);
  await shot(page, "schedule-day-1440");
  await accessible(page, "schedule board");

  const cooler = card(page, "walk-in cooler");
  const rita = await page.locator("[data-testid=row-rita] .sched-track").boundingBox();
  const start = await cooler.boundingBox();
  const { sx } = await drag(page, cooler, start.x + Math.min(30, start.width / 2), rita.y + rita.height / 2);
  assert.ok(sx > 0);
  const dialog = page.getByRole("dialog", { name: "Move job" });
  await dialog.waitFor();
  const warning = await dialog.locator("[data-testid=reassign-warning]").innerText();
  assert.match(warning, /Kai's tablet: 4 changes not yet synced, last seen/);
  assert.equal(await dialog.getByLabel("Technician or team").inputValue(), "rita");
  // One read of the device list for the dialog and the board: the Who list's Kai, the warning
  // and his row behind the dialog give his tablet one "last seen".
  const seen = warning.match(/last seen ([^,.]+)/)[1];
  const kaiOption = await dialog.locator("option", { hasText: "Kai Lindqvist" }).innerText();
  assert.match(kaiOption, new RegExp(`seen ${seen}`), `the Who list says what the warning says (${kaiOption} / ${warning})`);
  await until("Kai's row to say the same", async () => (await kaiRow.innerText()).includes(`last seen ${seen}`));
  // Kai has started the cooler job: the dialog says what giving it away does to his tablet.
  assert.match(
    await dialog.locator("[data-testid=started-warning]").innerText(),
    /Kai Lindqvist has started this job; giving it to Rita Alvarez takes it off Kai's tablet: what it has not synced is held for review/,
  );
  const confirm = dialog.getByRole("button", { name: "Reassign", exact: true });
  assert.equal(await confirm.isDisabled(), true, "no reassignment without a reason");
  await dialog.getByLabel("Why does it move?").fill("Kai is stuck at the depot");
  await shot(page, "schedule-drag-warning-1440");
  await accessible(page, "schedule's Move dialog");
  await confirm.click();
  await page.locator("[data-testid=row-rita] .sched-card", { hasText: "walk-in cooler" }).waitFor();
  assert.equal(await page.locator("[data-testid=row-kai] .sched-card", { hasText: "walk-in cooler" }).count(), 0);
  assert.match(await page.locator(".schedule .notice").innerText(), /reassigned from Kai Lindqvist to Rita Alvarez/);
  // The notice's Undo gives it back to Kai on the epoch the move made; then it goes to Rita again.
  await page.locator(".schedule .notice").getByRole("button", { name: "Undo" }).click();
  await until("the undo's notice", async () => /back with Kai Lindqvist/.test(await page.locator(".schedule .notice").innerText()));
  await page.locator("[data-testid=row-kai] .sched-card", { hasText: "walk-in cooler" }).waitFor();
  const cooler2 = card(page, "walk-in cooler");
  const box2 = await cooler2.boundingBox();
  const rita2 = await page.locator("[data-testid=row-rita] .sched-track").boundingBox();
  await drag(page, cooler2, box2.x + Math.min(30, box2.width / 2), rita2.y + rita2.height / 2);
  await dialog.waitFor();
  await dialog.getByLabel("Why does it move?").fill("Kai is stuck at the depot");
  await dialog.getByRole("button", { name: "Reassign", exact: true }).click();
  await page.locator("[data-testid=row-rita] .sched-card", { hasText: "walk-in cooler" }).waitFor();

  // Kai's tablet learns the job is Rita's.
  const moves = await until("the move on the server", async () => {
    const page = await kai.pull(0);
    const found = page.ownership?.filter((m) => m.to?.name === "rita") ?? [];
    return found.length ? found : null;
  });
  assert.equal(moves[0].from.name, "kai");
});

test("a job dragged to a new time keeps its owner, and the server has the new window", async () => {
  const { page } = session;
  const fan = card(page, "extractor fan");
  const id = await jobId("Replace extractor fan");
  const before = await scheduleOnServer("rita", "Rita's test tablet", id);
  const track = await page.locator("[data-testid=row-rita] .sched-track").boundingBox();
  const hours = await page.locator(".sched-hours span").count();
  const perHour = track.width / hours;
  const box = await fan.boundingBox();
  // Two hours later along Rita's own row.
  await drag(page, fan, box.x + Math.min(30, box.width / 2) + 2 * perHour, box.y + box.height / 2);
  await until("the move's notice", async () => /moved to 11:00–15:00, still with Rita Alvarez/.test(await page.locator(".schedule .notice").innerText()));
  assert.match(await fan.innerText(), /11:00–15:00/);
  const after = await until("the new window on the server", async () => {
    const s = await scheduleOnServer("rita", "Rita's test tablet", id);
    return new Date(s.values.window_start).getTime() !== new Date(before.values.window_start).getTime() ? s : null;
  });
  assert.equal(new Date(after.values.window_start).getTime() - new Date(before.values.window_start).getTime(), 2 * 3600 * 1000);
  assert.equal(new Date(after.values.window_end).getTime() - new Date(before.values.window_end).getTime(), 2 * 3600 * 1000);
  assert.equal(after.owner.name, "rita", "still Rita's");

  // Undo puts the window back, on the version the move made.
  await page.locator(".schedule .notice").getByRole("button", { name: "Undo" }).click();
  await until("the undo's notice", async () => /back at .* 09:00–13:00/.test(await page.locator(".schedule .notice").innerText()));
  assert.match(await fan.innerText(), /09:00–13:00/);
  await until("the old window on the server", async () => {
    const s = await scheduleOnServer("rita", "Rita's test tablet", id);
    return new Date(s.values.window_start).getTime() === new Date(before.values.window_start).getTime();
  });
});

test("Escape during a drag cancels it: the ghost goes and nothing moves", async () => {
  const { page } = session;
  const fan = card(page, "extractor fan");
  const was = await fan.locator(".sched-time").innerText();
  const track = await page.locator("[data-testid=row-rita] .sched-track").boundingBox();
  const perHour = track.width / (await page.locator(".sched-hours span").count());
  const box = await fan.boundingBox();
  const sx = box.x + Math.min(30, box.width / 2);
  const sy = box.y + box.height / 2;
  await page.mouse.move(sx, sy);
  await page.mouse.down();
  for (let i = 1; i <= 6; i++) await page.mouse.move(sx + (3 * perHour * i) / 6, sy);
  await page.locator("[data-testid=drag-ghost]").waitFor();
  await page.keyboard.press("Escape");
  await page.locator("[data-testid=drag-ghost]").waitFor({ state: "detached" });
  await page.mouse.up();
  await until("the cancel's notice", async () => /Move cancelled: nothing moved/.test(await page.locator(".schedule .notice").innerText()));
  assert.equal(await page.getByRole("dialog", { name: "Move job" }).count(), 0, "no dialog opened");
  assert.equal(await page.locator("[data-testid=job-detail]").count(), 0, "no job opened either");
  assert.equal(await fan.locator(".sched-time").innerText(), was, "the card did not move");
  assert.equal(await fan.count(), 1);
});

test("the keyboard moves a job in time the same way", async () => {
  const { page } = session;
  const id = await jobId("Oven thermostat fault");
  const oven = card(page, "Oven thermostat");
  await oven.focus();
  await page.keyboard.press("m");
  const dialog = page.getByRole("dialog", { name: "Move job" });
  await dialog.waitFor();
  await dialog.getByLabel("From").fill("14:00");
  await dialog.getByLabel("To").fill("16:30");
  await shot(page, "schedule-keyboard-move-1440");
  await dialog.getByRole("button", { name: "Move", exact: true }).click();
  await until("the move's notice", async () => /moved to .* 14:00–16:30/.test(await page.locator(".schedule .notice").innerText()));
  const after = await until("the new window on the server", async () => {
    const s = await scheduleOnServer("tom", "Tom's test tablet", id);
    return new Date(s.values.window_start).getUTCHours() === 13 ? s : null;
  });
  assert.equal(new Date(after.values.window_end).toISOString().slice(11, 16), "15:30", "16:30 in Berlin is 15:30 UTC");
  assert.equal(after.owner.name, "tom");
  // Escape closes the dialog without moving anything.
  await card(page, "Oven thermostat").focus();
  await page.keyboard.press("M");
  await dialog.waitFor();
  await page.keyboard.press("Escape");
  await dialog.waitFor({ state: "detached" });
});

test("a drag onto a team gives the job to the team: it waits in the tray", async () => {
  const { page } = session;
  const id = await jobId("Heating not reaching classroom 3");
  const heating = card(page, "Heating not reaching");
  const team = await page.locator("[data-testid=team-north]").boundingBox();
  const box = await heating.boundingBox();
  await drag(page, heating, team.x + team.width / 2, team.y + team.height / 2);
  const dialog = page.getByRole("dialog", { name: "Move job" });
  await dialog.waitFor();
  assert.equal(await dialog.getByLabel("Technician or team").inputValue(), "team:north");
  assert.match(await heating.innerText(), /paused/, "Tom has started it, and paused");
  assert.match(
    await dialog.locator("[data-testid=started-warning]").innerText(),
    /Tom Baker has started this job; giving it to the north team takes it off Tom's .*: what it has not synced is held for review/,
  );
  await dialog.getByLabel("Why does it move?").fill("whoever is free first");
  await dialog.getByRole("button", { name: "Reassign", exact: true }).click();
  const inTray = page.locator("[data-testid=tray] .sched-card", { hasText: "Heating not reaching" });
  await inTray.waitFor();
  assert.match(await inTray.innerText(), /No technician yet: north team/);
  assert.ok(box.y > 0);
  const after = await until("the team on the server", async () => {
    const s = await scheduleOnServer("tom", "Tom's test tablet", id);
    return s.owner?.kind === "team" ? s : null;
  });
  assert.deepEqual(after.owner, { kind: "team", name: "north" });
  // Undo gives it back to Tom, as the job page's notice does.
  await page.locator(".schedule .notice").getByRole("button", { name: "Undo" }).click();
  await page.locator("[data-testid=row-tom] .sched-card", { hasText: "Heating not reaching" }).waitFor();
  assert.match(await page.locator(".schedule .notice").innerText(), /back with Tom Baker/);
});

test("filters narrow the rows; day and week; screenshots at both sizes", async () => {
  const { page } = session;
  await page.getByLabel("Filter by team").selectOption("south");
  await until("only the south team", async () => (await page.locator(".sched-row").count()) === 1);
  assert.equal(await page.locator("[data-testid=row-kai]").count(), 1);
  await page.getByLabel("Filter by team").selectOption("");
  await page.getByLabel("Filter by technician").selectOption("rita");
  await until("only Rita", async () => (await page.locator(".sched-row").count()) === 1);
  await page.getByLabel("Filter by technician").selectOption("");
  await page.getByLabel("Filter by status").selectOption("paused");
  // The paused jobs only: Rita's extractor fan and Tom's heating (back with him after the undo).
  await until("only the paused jobs", async () => (await page.locator(".sched-grid .sched-card").count()) === 2);
  assert.deepEqual(await page.locator(".sched-grid .sched-card .pill").allInnerTexts(), ["paused", "paused"]);
  assert.match(await page.locator(".sched-grid").innerText(), /extractor fan/);
  await page.getByLabel("Filter by status").selectOption("");
  // Tomorrow holds Tom's boiler service.
  await page.getByRole("button", { name: "Next day" }).click();
  await page.locator("[data-testid=row-tom] .sched-card", { hasText: "Boiler service" }).waitFor();
  await page.getByRole("button", { name: "Today" }).click();
  await page.getByRole("button", { name: "Week", exact: true }).click();
  // The week runs Monday to Sunday: tomorrow is in it unless today is a Sunday.
  const tomorrowInWeek = new Date(new Date().toLocaleString("en-US", { timeZone: "Europe/Berlin" })).getDay() !== 0;
  if (tomorrowInWeek) await page.locator(".sched-week .sched-card", { hasText: "Boiler service" }).waitFor();
  else await page.locator(".sched-week .sched-card").first().waitFor();
  await shot(page, "schedule-week-1440");
  await accessible(page, "schedule board's week");
  await page.setViewportSize({ width: 1280, height: 720 });
  await shot(page, "schedule-week-1280");
  await page.getByRole("button", { name: "Day", exact: true }).click();
  await page.locator("[data-testid=row-rita] .sched-card").first().waitFor();
  await shot(page, "schedule-day-1280");
  await accessible(page, "schedule board at 1280x720");
  await page.setViewportSize({ width: 1440, height: 900 });
});
