// The real Tauri window under Xvfb, driven over WebDriver (tauri-driver + WebKitWebDriver):
// sign in, see the board with owners from a real server, open the inbox, save a screenshot.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { demoServer, root, screenshots, stop } from "../e2e/harness.mjs";

const binary = process.env.FIELDSYNC_DESKTOP_BIN ?? join(root, "target", "debug", "fieldsync-desktop");
const running = [];
after(async () => {
  for (const proc of running.reverse()) await stop(proc);
});

async function webdriver(method, path, body) {
  const response = await fetch(`http://127.0.0.1:4444${path}`, {
    method,
    headers: { "Content-Type": "application/json" },
    body: body ? JSON.stringify(body) : undefined,
  });
  const json = await response.json();
  if (!response.ok) throw new Error(`${method} ${path}: ${JSON.stringify(json)}`);
  return json.value;
}

async function until(what, check, ms = 30000) {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value) return value;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}: ${last ?? ""}`);
}

test("the desktop window signs in and shows the board and the inbox", async () => {
  const server = await demoServer();
  running.push(server.proc);
  const home = mkdtempSync(join(tmpdir(), "fieldsync-desktop-"));
  // Its own process group, so Xvfb, tauri-driver and WebKitWebDriver all stop with it.
  const driver = spawn("xvfb-run", ["-a", "-s", "-screen 0 1280x800x24", "tauri-driver"], {
    env: { ...process.env, FIELDSYNC_SERVER: server.base, HOME: home, XDG_DATA_HOME: join(home, "data") },
    stdio: "ignore",
    detached: true,
  });
  const group = {
    child: {
      exitCode: null,
      once: (_event, done) => driver.once("exit", done),
      kill: (signal) => {
        try {
          process.kill(-driver.pid, signal);
        } catch {
          driver.kill(signal);
        }
      },
    },
  };
  driver.once("exit", () => (group.child.exitCode = driver.exitCode ?? 0));
  running.push(group);
  await until("tauri-driver", () => fetch("http://127.0.0.1:4444/status").then((r) => r.ok));
  const session = await webdriver("POST", "/session", {
    capabilities: { alwaysMatch: { "tauri:options": { application: binary } } },
  });
  const id = session.sessionId;
  const find = (css) => webdriver("POST", `/session/${id}/element`, { using: "css selector", value: css }).then((e) => Object.values(e)[0]);
  const text = async (css) => webdriver("GET", `/session/${id}/element/${await find(css)}/text`);
  // WebKit paints after the DOM settles: wait two animation frames so the picture is current.
  const painted = () =>
    webdriver("POST", `/session/${id}/execute/async`, {
      script: "const done = arguments[arguments.length - 1]; requestAnimationFrame(() => requestAnimationFrame(() => done(true)));",
      args: [],
    });
  const screenshot = async (name) => {
    await painted();
    writeFileSync(join(screenshots, `${name}.png`), Buffer.from(await webdriver("GET", `/session/${id}/screenshot`), "base64"));
  };
  try {
    const user = await until("the sign-in form", () => find("input[name=username]"));
    await webdriver("POST", `/session/${id}/element/${user}/value`, { text: "dana" });
    await webdriver("POST", `/session/${id}/element/${await find("input[name=password]")}/value`, { text: "fieldsync-demo" });
    await webdriver("POST", `/session/${id}/element/${await find("button[type=submit]")}/click`, {});
    const board = await until("the board with owners", async () => {
      const t = await text("[data-testid=board]");
      return t.includes("Tom Baker") ? t : null;
    });
    assert.match(board, /Boiler service/);
    assert.match(board, /Rita Alvarez/);
    await screenshot("desktop-board");
    const buttons = await webdriver("POST", `/session/${id}/elements`, { using: "css selector", value: "header nav button" });
    await webdriver("POST", `/session/${id}/element/${Object.values(buttons[1])[0]}/click`, {});
    const inbox = await until("the inbox", async () => {
      const t = await text("[data-testid=inbox]");
      return t.includes("may duplicate") ? t : null;
    });
    assert.match(inbox, /Keep both/);
    await screenshot("desktop-inbox");
  } finally {
    await webdriver("DELETE", `/session/${id}`).catch(() => undefined);
  }
});
