// The real Tauri window under Xvfb, driven over WebDriver (tauri-driver + WebKitWebDriver):
// sign in, see the board with owners from a real server, open the inbox, save a screenshot.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { demoServer, root, stop } from "../e2e/harness.mjs";
import { more, session, startDriver, until } from "./driver.mjs";

const binary = process.env.FIELDSYNC_DESKTOP_BIN ?? join(root, "target", "debug", "fieldsync-desktop");
const running = [];
after(async () => {
  for (const proc of running.reverse()) await stop(proc);
});

test("the desktop window signs in and shows the board and the inbox", async () => {
  const server = await demoServer();
  running.push(server.proc);
  const home = mkdtempSync(join(tmpdir(), "fieldsync-desktop-"));
  const driver = await startDriver({ ...process.env, FIELDSYNC_SERVER: server.base, HOME: home, XDG_DATA_HOME: join(home, "data") });
  running.push(driver.handle);
  const base = await session(driver.base, binary);
  const app = { ...base, ...more(base) };
  try {
    const user = await until("the sign-in form", () => app.find("input[name=username]"));
    await app.call("POST", `/session/${app.id}/element/${user}/value`, { text: "dana" });
    await app.type("input[name=password]", "fieldsync-demo");
    await app.click(await app.find("button[type=submit]"));
    // The board's words as its cells hold them: WebKitWebDriver's element text leaves out the
    // one-line cells the virtualised list clips (summary, site), which are on screen.
    const board = await until("the board with owners", async () => {
      const t = await app.execute("return document.querySelector('[data-testid=board]')?.textContent ?? ''", []);
      return t.includes("Tom Baker") ? t : null;
    });
    assert.match(board, /Heating not reaching classroom 3/);
    assert.match(board, /Rita Alvarez/);
    await app.screenshot("desktop-board");
    await app.clickText("button", "Review inbox");
    const inbox = await until("the inbox", async () => {
      const t = await app.text("[data-testid=inbox]");
      return t.includes("may duplicate") ? t : null;
    });
    assert.match(inbox, /Keep both/);
    await app.screenshot("desktop-inbox");
  } finally {
    await app.close();
  }
});
