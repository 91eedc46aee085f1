// The schedule board's drag in the real Tauri window (tauri-driver + WebKitWebDriver under Xvfb)
// against a real demo server: W3C WebDriver pointer actions (pointerdown, moves, pointerup, the
// events a mouse makes in WebKitGTK) drag a job from a silent technician with unsynced work onto
// another technician; the Move dialog shows the reassign dialog's warning, the job moves with a
// reason, and the old device learns it moved.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { demoServer, device, root, stop } from "../e2e/harness.mjs";
import { launcher, more, session, startDriver, until } from "./driver.mjs";

const binary = process.env.FIELDSYNC_DESKTOP_BIN ?? join(root, "target", "debug", "fieldsync-desktop");
const identifier = JSON.parse(readFileSync(join(root, "src-tauri", "tauri.conf.json"), "utf8")).identifier;
assert.ok(identifier);
// No session bus: the token goes to the private file (see roles.test.mjs for why the address
// points nowhere rather than being unset).
const withoutBus = { ...process.env, DBUS_SESSION_BUS_ADDRESS: "unix:path=/nonexistent/fieldsync-no-session-bus" };
/** The key a W3C WebDriver element reference is sent under. */
const ELEMENT = "element-6066-11e4-a52e-4f735466cecf";

const running = [];
after(async () => {
  for (const proc of running.reverse()) {
    const gone = stop(proc);
    const late = setTimeout(() => proc.child.kill("SIGKILL"), 5000);
    await gone;
    clearTimeout(late);
  }
});

/** A port pair (tauri-driver's and WebKitWebDriver's after it) both free now, as the kernel says. */
async function freePorts() {
  const bindable = (port) =>
    new Promise((resolve) => {
      const probe = createServer();
      probe.once("error", () => resolve(false));
      probe.listen(port, "127.0.0.1", () => probe.close(() => resolve(true)));
    });
  for (;;) {
    const port = await new Promise((resolve) => {
      const probe = createServer();
      probe.listen(0, "127.0.0.1", () => {
        const { port } = probe.address();
        probe.close(() => resolve(port));
      });
    });
    if (port < 65000 && (await bindable(port + 1))) return port;
  }
}

test("a dispatcher drags a job from a silent technician's row onto another technician in the real window", { timeout: 240000 }, async () => {
  const server = await demoServer();
  running.push(server.proc);
  // Kai's tablet pulls, reporting 4 changes it could not send, then goes quiet.
  const kai = await device(server.base, "kai", "Kai's tablet");
  await kai.pull(0, { outbox_depth: "4", oldest_pending: new Date(Date.now() - 3 * 3600 * 1000).toISOString() });
  const driver = await startDriver(withoutBus, await freePorts());
  running.push(driver.handle);
  const home = mkdtempSync(join(tmpdir(), "fieldsync-schedule-desktop-"));
  const env = { FIELDSYNC_SERVER: server.base, FIELDSYNC_DEVICE_NAME: "Desk schedule", HOME: home };
  for (const [variable, dir] of [["XDG_DATA_HOME", "data"], ["XDG_CONFIG_HOME", "config"], ["XDG_CACHE_HOME", "cache"]]) {
    env[variable] = join(home, dir);
    mkdirSync(env[variable]);
  }
  const base = await session(driver.base, launcher(home, binary, env));
  const app = { ...base, ...more(base) };
  try {
    const field = await until("the sign-in form", () => app.find("input[name=username]"));
    await app.replace(field, "dana");
    await app.replace(await app.find("input[name=password]"), "fieldsync-demo");
    await app.click(await app.find("button[type=submit]"));
    await until("the header", () => app.find("header nav"));
    await app.click(await until("the Schedule button", () => app.xpath("//header//button[normalize-space(.)='Schedule']")));
    const cooler = await until("the walk-in cooler on Kai's row", () => app.xpath("//*[@data-testid='row-kai']//*[contains(@class,'sched-card')][contains(normalize-space(.), 'walk-in cooler')]"));
    await app.waitText("[data-testid=row-kai]", /Kai's tablet: 4 changes not yet synced/);
    const rita = await app.find("[data-testid=row-rita] .sched-label");

    // The drag: press on the card, move in steps (past the threshold), release on Rita's name.
    const move = (origin, x, y, duration = 100) => ({ type: "pointerMove", duration, origin, x, y });
    await app.call("POST", `/session/${app.id}/actions`, {
      actions: [
        {
          type: "pointer",
          id: "mouse",
          parameters: { pointerType: "mouse" },
          actions: [
            move({ [ELEMENT]: cooler }, -40, 0, 0),
            { type: "pointerDown", button: 0 },
            move("pointer", 10, 10),
            move("pointer", 10, -40),
            move({ [ELEMENT]: rita }, 0, 0, 200),
            move({ [ELEMENT]: rita }, 2, 0, 50),
            { type: "pointerUp", button: 0 },
          ],
        },
      ],
    });
    await app.call("DELETE", `/session/${app.id}/actions`).catch(() => undefined);

    const warning = await app.waitText("[role=dialog][aria-label='Move job'] [data-testid=reassign-warning]", /Kai's tablet/);
    assert.match(warning, /4 changes not yet synced, last seen/);
    const chosen = await app.execute("return document.querySelector(\"select[aria-label='Technician or team']\").value");
    assert.equal(chosen, "rita", "the drop chose Rita");
    const confirm = await app.xpath("//*[@role='dialog'][@aria-label='Move job']//button[normalize-space(.)='Reassign']");
    assert.equal(await app.call("GET", `/session/${app.id}/element/${confirm}/enabled`), false, "no reassignment without a reason");
    await app.keys(await app.find("input[name='reason']"), "Kai is stuck at the depot");
    console.log(`screenshot: ${await app.screenshot("desktop-schedule-drag-warning")}`);
    await app.click(confirm);
    await until("the cooler on Rita's row", () => app.xpath("//*[@data-testid='row-rita']//*[contains(@class,'sched-card')][contains(normalize-space(.), 'walk-in cooler')]"));
    assert.equal((await app.xpathAll("//*[@data-testid='row-kai']//*[contains(@class,'sched-card')][contains(normalize-space(.), 'walk-in cooler')]")).length, 0);
    console.log(`screenshot: ${await app.screenshot("desktop-schedule-reassigned")}`);
  } finally {
    await app.close();
  }
  // Kai's tablet hears the job is Rita's.
  const moves = await until("the move on the server", async () => {
    const page = await kai.pull(0);
    const found = page.ownership?.filter((m) => m.to?.name === "rita" && m.from?.name === "kai") ?? [];
    return found.length ? found : null;
  });
  assert.ok(moves.length >= 1);
});
