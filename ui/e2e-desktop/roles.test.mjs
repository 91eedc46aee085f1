// Each role's main flow in the real Tauri window (tauri-driver + WebKitWebDriver under Xvfb)
// against a real demo server: the dispatcher's reassignment with its warning, the supervisor's
// and finance's conflicts, the sync review's CSV through the native save dialog (answered with
// xdotool), a shared office PC, a revoked device, a second launch on one session bus, and the
// admin's people page. Each flow starts target/debug/fieldsync-desktop with its own home.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { demoServer, device, killDemoServer, restartDemoServer, root, screenshots, stop, update } from "../e2e/harness.mjs";
import { launcher, more, session, startDriver, startDriverInBus, until, xpathLiteral } from "./driver.mjs";

const binary = process.env.FIELDSYNC_DESKTOP_BIN ?? join(root, "target", "debug", "fieldsync-desktop");
const password = "fieldsync-demo";
// The app's data folder under XDG_DATA_HOME: the bundle identifier (tauri.conf.json).
const identifier = JSON.parse(readFileSync(join(root, "src-tauri", "tauri.conf.json"), "utf8")).identifier;

const running = [];
/** Stops `proc` (already gone if a signal ended it: test 5 kills its first server); a process
 * group that has not gone 5 s after SIGTERM gets SIGKILL. */
async function stopHard(proc) {
  if (proc.child.signalCode) return;
  const gone = stop(proc);
  const late = setTimeout(() => proc.child.kill("SIGKILL"), 5000);
  await gone;
  clearTimeout(late);
}
after(async () => {
  for (const proc of running.reverse()) await stopHard(proc);
});

// No session bus for the flows that share this driver: the credential store is absent, so the
// token goes to the private file (the fallback), and a second launch is a second process. The
// address points nowhere rather than being unset: unset, with an X display, libdbus autolaunches
// a bus (dbus-launch --autolaunch) whose Secret Service (gnome-keyring, started by D-Bus) asks for
// a new keyring's password in a prompt nobody answers, and that bus outlives the test.
const withoutBus = { ...process.env, DBUS_SESSION_BUS_ADDRESS: "unix:path=/nonexistent/fieldsync-no-session-bus" };

/** Whether `port` can be bound on loopback now. */
const bindable = (port) =>
  new Promise((resolve) => {
    const probe = createServer();
    probe.once("error", () => resolve(false));
    probe.listen(port, "127.0.0.1", () => probe.close(() => resolve(true)));
  });

/** A port pair (tauri-driver's and WebKitWebDriver's after it) both free now. */
async function freePorts() {
  for (;;) {
    const port = 30000 + 2 * Math.floor(Math.random() * 5000);
    if ((await bindable(port)) && (await bindable(port + 1))) return port;
  }
}

let shared;
/** One tauri-driver for every flow without a bus. */
async function sharedDriver() {
  if (!shared) {
    shared = await startDriver(withoutBus, await freePorts());
    running.push(shared.handle);
  }
  return shared;
}

/**
 * A fresh home for one flow, and the app started in it over `driver`: FIELDSYNC_SERVER names
 * `server`, and FIELDSYNC_DEVICE_NAME the computer, so the admin's device list can find it.
 */
async function desktop(name, server, driver) {
  const home = mkdtempSync(join(tmpdir(), `fieldsync-roles-${name}-`));
  const env = { FIELDSYNC_SERVER: server.base, FIELDSYNC_DEVICE_NAME: `Desk ${name}`, HOME: home };
  for (const [variable, dir] of [["XDG_DATA_HOME", "data"], ["XDG_CONFIG_HOME", "config"], ["XDG_CACHE_HOME", "cache"]]) {
    env[variable] = join(home, dir);
    mkdirSync(env[variable]);
  }
  const app = await session((driver ?? (await sharedDriver())).base, launcher(home, binary, env));
  const people = join(env.XDG_DATA_HOME, identifier, "people");
  return { app: { ...app, ...more(app) }, home, env, people, deviceName: env.FIELDSYNC_DEVICE_NAME };
}

/** Signs `user` in on the sign-in screen and waits for the app's header. */
async function signIn(app, user, secret = password) {
  const field = await until("the sign-in form", () => app.find("input[name=username]"));
  await app.replace(field, user);
  await app.replace(await app.find("input[name=password]"), secret);
  await app.click(await app.find("button[type=submit]"));
  await until(`${user}'s screens`, () => app.find("header nav"));
}

/** Waits for the board to list a row whose words hold `words`; returns the row's text. */
const boardRow = (app, words, pattern = /./) =>
  until(`a board row with "${words}" matching ${pattern}`, async () => {
    const row = await app.byText("tr", words, "board");
    if (!row) return null;
    // The row's words as its cells hold them: WebKitWebDriver's element text leaves out the
    // lines the list's one-line cells clip with an ellipsis (summary, site, sync), which the
    // screenshot shows on screen.
    const t = await app.execute("return arguments[0].textContent", [{ "element-6066-11e4-a52e-4f735466cecf": row }]);
    return pattern.test(t) ? t : null;
  });

/** Opens the job whose row holds `words`, clicking its first cell (WebKitWebDriver calls a table
 * row itself not interactable). */
const openRow = async (app, words) =>
  app.click(await until(`the row "${words}"`, () => app.xpath(`//*[@data-testid='board']//tr[contains(normalize-space(.), ${xpathLiteral(words)})]/td[1]`)));

/** The server's API as `user` on a device of their own. */
async function api(base, user, deviceName, secret = password) {
  const response = await fetch(`${base}/api/v1/auth/login`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username: user, password: secret, device_name: deviceName }),
  });
  assert.equal(response.status, 200, `${user} signs in to the API`);
  const { token } = await response.json();
  const headers = { Authorization: `Bearer ${token}`, "Content-Type": "application/json" };
  return {
    token,
    call: (method, path, body) => fetch(`${base}${path}`, { method, headers, body: body && JSON.stringify(body) }),
  };
}

/** Every change the server holds, as `who` (a `device()` from the harness) pulls them. */
const jobWith = async (who, summary) => (await who.pullAll()).find((c) => c.record_type === "job" && c.op === "create" && c.values.description?.summary === summary);

/** Creates a job in the New job form: the first customer, a site and a summary. */
async function newJob(app, site, summary) {
  await app.clickText("button", "New job");
  await until("the New job form", () => app.find("[role=dialog][aria-label='New job']"));
  const field = (label) => app.xpath(`//*[@aria-label='New job']//label[starts-with(normalize-space(.), '${label}')]//input`);
  await app.keys(await field("Site"), site);
  await app.keys(await field("Summary"), summary);
  const options = await until("the customers in the form", async () => {
    const list = await app.findAll("[aria-label='New job'] select option");
    return list.length > 1 ? list : null;
  });
  await app.click(options[1]);
  await app.click(await app.xpath("//*[@aria-label='New job']//button[normalize-space(.)='Save']"));
  await until("the form to close", async () => (await app.findAll("[role=dialog][aria-label='New job']")).length === 0, 15000).catch(async (e) => {
    const shown = await app.text("[role=dialog][aria-label='New job']").catch(() => "(no form)");
    throw new Error(`${e.message}; the form says: ${JSON.stringify(shown)}; the window: ${JSON.stringify((await app.text("body").catch(() => "")).slice(0, 300))}`);
  });
}

test("1. a dispatcher reassigns a job after the warning about the technician's device, with a reason", { timeout: 180000 }, async () => {
  const server = await demoServer();
  running.push(server.proc);
  // Kai's tablet pulls, reporting 4 changes it could not send, then goes quiet.
  const kai = await device(server.base, "kai", "Kai's tablet");
  await kai.pull(0, { outbox_depth: "4", oldest_pending: new Date(Date.now() - 3 * 3600 * 1000).toISOString() });
  const { app, people } = await desktop("dispatcher", server);
  try {
    await signIn(app, "dana");
    // No session bus here: the token is in the private file in Dana's own folder.
    assert.ok(existsSync(join(people, "dana", "session.token")), "without a credential store the token is in people/dana/session.token");
    assert.ok(existsSync(join(people, "dana", "cache.db")), "Dana's own cache");
    await openRow(app, "walk-in cooler");
    await app.clickText("button", "Reassign…");
    const warning = await app.waitText("[data-testid=reassign-warning]", /Kai's tablet/);
    assert.match(warning, /4 changes not yet synced/);
    assert.match(warning, /last seen/);
    await app.choose("select[aria-label='New owner']", "rita");
    const confirm = await app.xpath("//*[@role='dialog'][@aria-label='Reassign job']//button[normalize-space(.)='Reassign']");
    assert.equal(await app.call("GET", `/session/${app.id}/element/${confirm}/enabled`), false, "no reassignment without a reason");
    await app.keys(await app.find("input[name='reason']"), "Kai is stuck at the depot");
    console.log(`screenshot: ${await app.screenshot("desktop-roles-1-reassign-warning")}`);
    await app.click(confirm);
    await app.waitText("[data-testid=timeline]", /reassigned the job to Rita Alvarez: Kai is stuck at the depot/);
    assert.match(await app.text("[data-testid=job-detail]"), /Reassigned from Kai Lindqvist to Rita Alvarez/);
    // The board as it reads the job again (leaving it and coming back: see test 9 for the board
    // changing by itself).
    await app.clickText("button", "Review inbox");
    await app.clickText("button", "Board");
    assert.match(await boardRow(app, "walk-in cooler", /Rita Alvarez/), /Rita Alvarez/);
    console.log(`screenshot: ${await app.screenshot("desktop-roles-1-reassigned")}`);
  } finally {
    await app.close();
  }
  // The server moved it: Kai's tablet hears the job is Rita's.
  const moves = await until("the move on the server", async () => {
    const page = await kai.pull(0);
    const found = page.ownership?.filter((m) => m.to?.name === "rita") ?? [];
    return found.length ? found : null;
  });
  assert.ok(moves.length >= 1);
});

test("2. a supervisor resolves the demo's status conflict in the review inbox", { timeout: 180000 }, async () => {
  const server = await demoServer();
  running.push(server.proc);
  const { app } = await desktop("supervisor", server);
  try {
    await signIn(app, "sam");
    await app.clickText("button", "Review inbox");
    const card = await until("the conflict card", () => app.find("[data-testid=inbox] article[data-kind=conflict]"));
    const text = await app.elementText(card);
    for (const word of [/Base/, /Current/, /Incoming/, /signed off/, /paused/, /Tom's tablet/]) assert.match(text, word);
    console.log(`screenshot: ${await app.screenshot("desktop-roles-2-inbox-conflict")}`);
    await app.click(await app.xpath("//*[@data-testid='inbox']//article[@data-kind='conflict']//button[starts-with(normalize-space(.), 'Take this version')]"));
    await until("the card to go", async () => (await app.findAll("[data-testid=inbox] article[data-kind=conflict]")).length === 0);
    await app.clickText("button", "Board");
    await openRow(app, "Heating not reaching");
    await app.waitText("[data-testid=timeline]", /resolved the review/);
    assert.match(await app.text("[data-testid=job-detail]"), /signed off/);
    console.log(`screenshot: ${await app.screenshot("desktop-roles-2-resolved")}`);
  } finally {
    await app.close();
  }
  // Tom's tablet converges on the resolution.
  const tom = await device(server.base, "tom", "Tom's tablet");
  const job = await jobWith(tom, "Heating not reaching classroom 3");
  const status = (await tom.pullAll()).filter((c) => c.record_id === job.record_id && c.group === "status").at(-1);
  assert.equal(status.values.state, "signed_off");
});

test("3. finance resolves a totals conflict (made on the server: the demo seeds none) with a merged value", { timeout: 180000 }, async () => {
  const server = await demoServer();
  running.push(server.proc);
  const desk = await device(server.base, "fiona", "Finance desk");
  const laptop = await device(server.base, "fiona", "Fiona's laptop");
  const draft = (await desk.pullAll()).find((c) => c.record_type === "invoice" && c.op === "create" && c.state === "draft");
  assert.ok(draft, "the demo has a draft invoice");
  const subtotal = draft.values.totals.subtotal;
  assert.equal((await desk.push([update("invoice", draft.record_id, "totals", 1, { tax: 40, total: subtotal + 40 })]))[0].status, "applied");
  assert.equal((await laptop.push([update("invoice", draft.record_id, "totals", 1, { tax: 42, total: subtotal + 42 })]))[0].status, "held");
  const { app } = await desktop("finance", server);
  try {
    await signIn(app, "fiona");
    await app.clickText("button", "Invoices");
    await until("the invoice under review", () => app.find("[data-testid=invoices] .under-review"));
    await app.clickText("button", "Totals under review: resolve");
    const card = await until("the totals card", () => app.find("[data-testid=inbox] article[data-kind=conflict]"));
    assert.match(await app.elementText(card), /Fiona's laptop/);
    await app.click(await app.xpath("//*[@data-testid='inbox']//article[@data-kind='conflict']//button[normalize-space(.)='Merge…']"));
    const tax = await until("the merge form", () => app.find("[data-testid=merge-form] input[id$='-tax']"));
    await app.replace(tax, "41");
    await app.replace(await app.find("[data-testid=merge-form] input[id$='-total']"), String(subtotal + 41));
    console.log(`screenshot: ${await app.screenshot("desktop-roles-3-merge")}`);
    await app.click(await app.xpath("//*[@data-testid='merge-form']//button[normalize-space(.)='Save merged']"));
    await until("the card to go", async () => (await app.findAll("[data-testid=inbox] article[data-kind=conflict]")).length === 0);
    await app.clickText("button", "Invoices");
    await app.waitText("[data-testid=invoices]", new RegExp(`${(subtotal + 41).toFixed(2)} GBP`));
    assert.equal((await app.findAll("[data-testid=invoices] .under-review")).length, 0, "nothing under review any more");
    console.log(`screenshot: ${await app.screenshot("desktop-roles-3-resolved")}`);
  } finally {
    await app.close();
  }
  const totals = (await laptop.pullAll()).filter((c) => c.record_id === draft.record_id && c.group === "totals").at(-1);
  assert.equal(totals.values.tax, 41, "the merged totals are on the server");
});

/** `xdotool ARGS` on `screen` (the app's display and X authority); its output, or throws with what it said. */
function xdotool(screen, ...args) {
  const r = spawnSync("xdotool", args, { env: { ...process.env, ...screen }, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`xdotool ${args.join(" ")}: ${r.status} ${r.stderr}`);
  return r.stdout.trim();
}

test(
  "4. Export CSV on the sync review writes the file the person names in the native save dialog",
  { timeout: 180000, skip: spawnSync("sh", ["-c", "command -v xdotool"]).status === 0 ? false : "no xdotool (Debian package xdotool; scripts/lib.sh ensure_desktop_tools installs it)" },
  async () => {
    const server = await demoServer();
    running.push(server.proc);
    const { app, home } = await desktop("export", server);
    const target = join(home, "picked", "week.csv");
    mkdirSync(join(home, "picked"));
    try {
      await signIn(app, "dana");
      await app.clickText("button", "Sync review");
      await until("the period's events", () => app.find("[data-testid=report-events] tbody tr[data-kind]"));
      const rows = (await app.findAll("[data-testid=report-events] tbody tr[data-kind]")).length;
      const button = await app.byText("button", "Export CSV");
      await until("Export CSV to be enabled", () => app.call("GET", `/session/${app.id}/element/${button}/enabled`));
      await app.click(button);
      const [DISPLAY, XAUTHORITY] = readFileSync(join(home, "display"), "utf8").split("\n");
      const display = { DISPLAY, XAUTHORITY };
      // GTK's file chooser: a window of its own on the app's display.
      const dialog = await until("the save dialog", () => {
        const ids = xdotool(display, "search", "--onlyvisible", "--name", "Save").split("\n").filter(Boolean);
        return ids.at(-1);
      }, 15000);
      // No window manager under Xvfb: give the dialog the keyboard, then type as a person would.
      xdotool(display, "windowfocus", "--sync", dialog);
      spawnSync("import", ["-display", DISPLAY, "-window", "root", join(screenshots, "desktop-roles-4-save-dialog.png")], { env: { ...process.env, ...display } });
      xdotool(display, "key", "--clearmodifiers", "ctrl+a");
      xdotool(display, "type", "--delay", "15", target);
      xdotool(display, "key", "Return");
      spawnSync("import", ["-display", DISPLAY, "-window", "root", join(screenshots, "desktop-roles-4-save-dialog-typed.png")], { env: { ...process.env, ...display } });
      // The page's status line (the sync banner is a status too).
      const said = await until("the page to say where the file went", async () => app.elementText(await app.byText("*[@role='status']", "events saved to")), 20000);
      assert.ok(said.includes(target), `the page names the picked file: ${said}`);
      const csv = readFileSync(target, "utf8");
      const [header, ...lines] = csv.trim().split("\n");
      assert.equal(header.split(",").slice(0, 4).join(","), "kind,cause,rule,code");
      assert.equal(lines.length, rows, "one CSV row per event on the page");
      console.log(`screenshot: ${await app.screenshot("desktop-roles-4-exported")}`);
    } finally {
      await app.close();
    }
  },
);

test("5. a shared PC: Dana's unsynced job stays hers; Sam signed in after her sees none of it and sends none of it", { timeout: 240000 }, async () => {
  const server = await demoServer();
  running.push(server.proc);
  const { app, people } = await desktop("shared", server);
  const summary = "Gate motor hums, does not open";
  try {
    await signIn(app, "dana");
    await boardRow(app, "Boiler service");
    // The server goes away: Dana's new job is saved on this computer only.
    await killDemoServer(server);
    await newJob(app, "Pier 9, north gate", summary);
    await boardRow(app, summary);
    console.log(`screenshot: ${await app.screenshot("desktop-roles-5-dana-unsynced")}`);
    await app.clickText("button", "Sign out");
    await until("the sign-in form", () => app.find("input[name=username]"));
    const signInScreen = await app.text("body");
    console.log(`the sign-in screen after Dana signed out: ${JSON.stringify(signInScreen)}`);
    if (/of Dana's changes/.test(signInScreen)) assert.match(signInScreen, /1 of Dana's changes is not synced yet/);
    console.log(`screenshot: ${await app.screenshot("desktop-roles-5-signed-out")}`);
    running.push(await restartDemoServer(server));
    await signIn(app, "sam");
    await boardRow(app, "Boiler service");
    await app.clickText("button", "Sync now");
    await app.waitText("[data-testid=sync-banner]", /synced/i);
    assert.doesNotMatch(await app.text("[data-testid=board]"), /Gate motor hums/, "Sam's board has none of Dana's unsynced work");
    console.log(`screenshot: ${await app.screenshot("desktop-roles-5-sam")}`);
    assert.ok(existsSync(join(people, "sam", "cache.db")) && existsSync(join(people, "dana", "cache.db")), "a cache each");
    // Sam's sync sent nothing of Dana's: the server has no such job.
    const office = await device(server.base, "olivia", "Check desk");
    assert.equal(await jobWith(office, summary), undefined, "Dana's unsynced job did not reach the server in Sam's session");
    // Dana signs in again: her outbox goes.
    await app.clickText("button", "Sign out");
    await signIn(app, "dana");
    await until("Dana's job on the server", () => jobWith(office, summary));
  } finally {
    await app.close();
  }
});

test("6. a device revoked while its change waits returns to sign-in with the reason; signing in again sends what waited", { timeout: 180000 }, async () => {
  const server = await demoServer();
  running.push(server.proc);
  const { app, deviceName } = await desktop("revoked", server);
  const summary = "Fence panel down after the storm";
  try {
    await signIn(app, "dana");
    await boardRow(app, "Boiler service");
    const ada = await api(server.base, "ada", "Admin laptop");
    const devices = await (await ada.call("GET", "/api/v1/devices")).json();
    const mine = devices.find((d) => d.user === "dana" && d.name === deviceName);
    assert.ok(mine, `Dana's desk among ${JSON.stringify(devices.map((d) => `${d.user}: ${d.name}`))}`);
    // With the server down Dana saves a job (it waits on this computer), and the device is
    // revoked on the server's command line meanwhile (a lost PC reported at night).
    await killDemoServer(server);
    await newJob(app, "12 Orchard Row", summary);
    await boardRow(app, summary);
    const fieldsync = process.env.FIELDSYNC_BIN ?? join(root, "target", "debug", "fieldsync");
    const revoked = spawnSync(fieldsync, ["device", "revoke", mine.device_id, "--data-dir", join(server.dir, "server")], { encoding: "utf8" });
    assert.equal(revoked.status, 0, revoked.stderr);
    // The server is back: the desk's next call (nobody presses anything) is refused, and the
    // window goes to sign-in and says why; what waited stays.
    running.push(await restartDemoServer(server));
    const why = await until("the reason on the sign-in screen", () => app.text("[data-testid=signed-out-reason]"), 30000);
    assert.match(why, /revoked/);
    console.log(`the reason shown: ${JSON.stringify(why)}`);
    console.log(`screenshot: ${await app.screenshot("desktop-roles-6-revoked")}`);
    const office = await device(server.base, "olivia", "Check desk");
    assert.equal(await jobWith(office, summary), undefined, "nothing went under the revoked token");
    // Revoking ended the session, not the person: the password signs her in again, and the
    // job that waited reaches the server.
    await signIn(app, "dana");
    await until("the job that waited, on the server", () => jobWith(office, summary));
    await boardRow(app, summary, /Synced/);
  } finally {
    await app.close();
  }
});

test("7. inside a session bus a second launch hands over to the first window, and the token is in the keyring", { timeout: 180000 }, async () => {
  const server = await demoServer();
  running.push(server.proc);
  const busHome = mkdtempSync(join(tmpdir(), "fieldsync-roles-bus-"));
  const outside = { ...process.env };
  delete outside.DBUS_SESSION_BUS_ADDRESS; // dbus-run-session gives the bus its own address
  const driver = await startDriverInBus(outside, await freePorts(), join(busHome, "bus"));
  running.push(driver.handle);
  const { app, env, people } = await desktop("bus", server, driver);
  try {
    await signIn(app, "dana");
    await boardRow(app, "Boiler service");
    assert.ok(existsSync(join(people, "dana", "cache.db")), "Dana's own cache");
    assert.ok(!existsSync(join(people, "dana", "session.token")), "with a credential store no session.token file");
    const started = Date.now();
    const second = spawn(binary, [], { env: { ...withoutBus, ...env, DBUS_SESSION_BUS_ADDRESS: driver.bus, DISPLAY: driver.display, XAUTHORITY: driver.xauthority }, stdio: ["ignore", "pipe", "pipe"] });
    let said = "";
    second.stdout.on("data", (c) => (said += c));
    second.stderr.on("data", (c) => (said += c));
    const code = await Promise.race([
      new Promise((resolve) => second.once("exit", (c, signal) => resolve(c ?? signal))),
      new Promise((resolve) => setTimeout(() => resolve("still running"), 15000)),
    ]);
    if (code === "still running") second.kill("SIGKILL");
    assert.equal(code, 0, `the second launch exits by itself (after ${Date.now() - started} ms): ${said}`);
    console.log(`the second launch exited in ${Date.now() - started} ms`);
    // The first window is there and answers.
    await app.clickText("button", "Review inbox");
    await until("the inbox", () => app.find("[data-testid=inbox]"));
    assert.match(await app.text("header"), /Dana/);
    console.log(`screenshot: ${await app.screenshot("desktop-roles-7-after-second-launch")}`);
  } finally {
    await app.close();
    rmSync(busHome, { recursive: true, force: true });
  }
});

test("8. an admin adds a technician on the People page, the technician signs in, the admin revokes the device", { timeout: 180000 }, async () => {
  const server = await demoServer();
  running.push(server.proc);
  const { app } = await desktop("admin", server);
  try {
    await signIn(app, "ada");
    await app.clickText("button", "People and devices");
    await until("the accounts", () => app.find("[data-testid=accounts]"));
    await app.clickText("button", "Add a person…");
    const field = (label) => app.xpath(`//*[@role='dialog'][@aria-label='Add a person']//label[starts-with(normalize-space(.), '${label}')]//*[self::input or self::select]`);
    await app.keys(await field("User name"), "tess");
    await app.keys(await field("Name shown on screens"), "Tess Ng");
    const role = await field("Role");
    await app.click(await app.call("POST", `/session/${app.id}/element/${role}/element`, { using: "css selector", value: "option[value=technician]" }).then((e) => Object.values(e)[0]));
    await app.keys(await field("Team"), "north");
    await app.keys(await field("First password"), "first password");
    await app.click(await app.xpath("//*[@role='dialog'][@aria-label='Add a person']//button[normalize-space(.)='Add']"));
    const row = await until("Tess's row", () => app.find("[data-testid=accounts] tr[data-user=tess]"));
    assert.match(await app.elementText(row), /chooses a new password at next sign-in/);
    assert.match(await app.elementText(row), /Technician/i);
    console.log(`screenshot: ${await app.screenshot("desktop-roles-8-people")}`);
    // Tess signs in on her phone (the server's API).
    const tess = await api(server.base, "tess", "Tess's phone", "first password");
    // The page reads again when it is opened.
    await app.clickText("button", "Board");
    await app.clickText("button", "People and devices");
    const revoke = await until("Tess's phone on the page", () => app.find(`[data-testid=devices] button[aria-label="Revoke Tess's phone"]`));
    await app.click(revoke);
    const dialog = await until("the revoke dialog", () => app.find(`[role=dialog][aria-label="Revoke Tess's phone"]`));
    // What revoking does, in words (the wording is the People page's to choose).
    const said = await app.elementText(dialog);
    assert.match(said, /Tess Ng/);
    assert.match(said, /refused|stops syncing/);
    console.log(`screenshot: ${await app.screenshot("desktop-roles-8-revoke-dialog")}`);
    await app.clickText("button", "Revoke the device");
    await until("the row to say revoked", async () => /revoked/.test(await app.elementText(await app.byText("tr", "Tess's phone", "devices"))));
    assert.match(await app.text("[data-testid=admin-log]"), /revoke device .*\(Tess Ng\)/i);
    await app.execute("arguments[0].scrollIntoView({ block: 'center' })", [{ "element-6066-11e4-a52e-4f735466cecf": await app.byText("tr", "Tess's phone", "devices") }]);
    console.log(`screenshot: ${await app.screenshot("desktop-roles-8-revoked")}`);
    // The server refuses the phone from now on.
    assert.equal((await tess.call("GET", "/api/v1/sync/pull?after=0&limit=1")).status, 401);
  } finally {
    await app.close();
  }
});

/**
 * Pushes a status change from Tom's tablet and waits for the window's board to show it with
 * nobody touching anything: what the app's background sync and its change notices do.
 */
async function boardFollowsTom(app, server, ms = 20000) {
  const tom = await device(server.base, "tom", "Tom's tablet");
  const boiler = await jobWith(tom, "Boiler service, flat 4B");
  const [opened] = await tom.push([update("job", boiler.record_id, "status", 1, { state: "opened" })]);
  assert.equal(opened.status, "applied", JSON.stringify(opened));
  const started = Date.now();
  await until("the board to show Tom's change by itself", async () => /opened/.test(await app.elementText(await app.byText("tr", "Boiler service", "board"))), ms);
  return Date.now() - started;
}

test("9. a window someone signed in to after it started syncs by itself: another device's change reaches the board", { timeout: 120000 }, async () => {
  const server = await demoServer();
  running.push(server.proc);
  const { app } = await desktop("live", server);
  try {
    await signIn(app, "dana");
    await boardRow(app, "Boiler service");
    console.log(`the board followed Tom's tablet in ${await boardFollowsTom(app, server)} ms`);
  } finally {
    await app.close();
  }
});
